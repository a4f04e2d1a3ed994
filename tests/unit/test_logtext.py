"""Log text as HTML lines: escaped, ANSI colour as classes, a level per line."""

from __future__ import annotations

from brisa.web.ui.logtext import level_of, render_lines, split_lines


def test_log_text_is_escaped_never_passed_through() -> None:
    html = str(render_lines("<script>alert(1)</script> & done\n", 1))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; done" in html


def test_lines_are_numbered_from_the_first_line_number() -> None:
    html = str(render_lines("a\nb\n", 41))
    assert 'id="L41" data-n="41"' in html and 'id="L42" data-n="42"' in html
    assert html.count('class="ll ') == 2


def test_ansi_colours_become_classed_spans_and_carry_across_lines() -> None:
    html = str(render_lines("\x1b[1;31mred\nstill red\x1b[0m plain\x1b[2K\n", 1))
    assert '<span class="ansi-b ansi-fg-1">red</span>' in html
    assert '<span class="ansi-b ansi-fg-1">still red</span> plain</span>' in html
    assert "\x1b" not in html


def test_bright_and_background_colours() -> None:
    html = str(render_lines("\x1b[92;104mok\x1b[39;49m", 1))
    assert '<span class="ansi-fg-10 ansi-bg-12">ok</span>' in html


def test_level_is_inferred_per_line() -> None:
    assert level_of("2026-01-01 ERROR boom") == "error"
    assert level_of("Traceback (most recent call last):") == "error"
    assert level_of("WARNING: careful") == "warning"
    assert level_of("DEBUG x") == "debug"
    assert level_of("an error-free line") == "info"
    html = str(render_lines("fine\nERROR bad\n", 1))
    assert 'class="ll ll-info"' in html and 'class="ll ll-error"' in html


def test_the_worker_stamp_gets_its_own_span() -> None:
    html = str(render_lines("2026-11-24T10:00:00.123Z hello\n", 1))
    stamp = '<span class="lts">2026-11-24T10:00:00.123Z</span>'
    assert stamp + ' <span class="ltx">hello</span>' in html


def test_split_lines() -> None:
    assert split_lines("") == []
    assert split_lines("a\n") == ["a"]
    assert split_lines("a\n\nb") == ["a", "", "b"]
