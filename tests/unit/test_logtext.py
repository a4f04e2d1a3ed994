"""Log text as HTML (web.ui.logtext): escaped, ANSI as classed spans, line numbers and level
tags as attributes (not text, so copies leave them out), stamps in both zones."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from brisa.logs.lines import Line
from brisa.web.ui.logtext import ansi_html, line_html, plain, render_lines


def test_markup_in_a_log_is_text() -> None:
    html = str(render_lines("<script>alert(1)</script>\n", 1))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ansi_colours_become_classes_and_carry_on() -> None:
    html = str(ansi_html("\x1b[1;31mred\x1b[0m plain \x1b[92mgreen\x1b[39m end\x1b[2K"))
    assert '<span class="ansi-fg-1 ansi-bold">red</span> plain ' in html
    assert '<span class="ansi-fg-10">green</span> end' in html
    assert "\x1b" not in html
    assert plain("\x1b[31mred\x1b[0m") == "red"


def test_a_line_carries_number_offset_level_and_no_copyable_number() -> None:
    html = str(line_html(Line(42, 1000, "2026-12-01T12:00:00.000Z ERROR failed")))
    assert 'id="L42" data-n="42" data-o="1000" data-lvl="error"' in html
    assert 'data-t="ERR"></span>' in html
    text = re.sub(r"<[^>]+>", "", html)
    assert "42" not in text and "ERR " not in text


def test_stamps_show_utc_and_the_display_zone() -> None:
    html = str(render_lines("2026-12-01T12:00:00.000Z hello\n", 7, zone=ZoneInfo("Asia/Kolkata")))
    assert '<span class="ts-u">12:00:00.000</span><span class="ts-l">17:30:00.000</span>' in html
    assert 'id="L7"' in html and ">hello</span>" in html


def test_search_marks_matches_escaped() -> None:
    html = str(line_html(Line(1, 0, "a <b> a"), mark=re.compile("<b>")))
    assert "<mark>&lt;b&gt;</mark>" in html


def test_very_long_lines_are_clipped() -> None:
    html = str(line_html(Line(1, 0, "x" * 30_000)))
    assert html.count("x") < 11_000 and "KB more" in html
