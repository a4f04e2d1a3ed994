"""How lists present schedules, recent-run bars and filter links."""

from __future__ import annotations

from brisa.core.spec import CronSchedule, IntervalSchedule, ManualSchedule
from brisa.web.ui.listview import (
    MIN_BAR,
    bar_heights,
    cron_words,
    element_id,
    schedule_words,
    with_params,
)


def test_common_crons_read_as_words_and_others_stay_cron() -> None:
    assert cron_words("30 6 * * *") == "daily at 06:30"
    assert cron_words("5 * * * *") == "hourly at :05"
    assert cron_words("*/15 * * * *") == "every 15 minutes"
    assert cron_words("0 9 * * 1") == "weekly on Monday at 09:00"
    assert cron_words("0 9 * * 7") == "weekly on Sunday at 09:00"
    assert cron_words("0 0 1 * *") == "monthly on day 1 at 00:00"
    assert cron_words("0 9 * 1 *") is None
    assert cron_words("0 9-17 * * 1-5") is None


def test_schedules_have_words_and_the_cron_with_its_zone() -> None:
    assert schedule_words(CronSchedule("0 6 * * *", "Europe/Lisbon")) == (
        "daily at 06:00",
        "0 6 * * * Europe/Lisbon",
    )
    assert schedule_words(IntervalSchedule(90))[0] == "every 1 m 30 s"
    assert schedule_words(ManualSchedule())[0] == "manual only"


def test_bars_scale_to_the_longest_run_with_a_floor() -> None:
    assert bar_heights([10.0, 5.0, None, 0.1]) == [100, 50, MIN_BAR, MIN_BAR]
    assert bar_heights([None, 0.0]) == [MIN_BAR, MIN_BAR]
    assert bar_heights([]) == []


def test_filter_links_change_one_value_and_restart_paging() -> None:
    params = {"tag": "etl", "q": "load", "after": "abc"}
    assert with_params("/dags", params, tag=None) == "/dags?q=load"
    assert with_params("/dags", params, state="failed") == "/dags?tag=etl&q=load&state=failed"
    assert with_params("/dags", {}, q="") == "/dags"


def test_element_ids_are_safe_and_distinct() -> None:
    one, other = element_id("dag", "t", "a/b"), element_id("dag", "t/a", "b")
    assert one != other and one.startswith("dag-") and one.replace("-", "").isalnum()


def test_recent_run_bars_link_label_and_escape_each_run() -> None:
    from datetime import UTC, datetime, timedelta

    from brisa.store.listing import RunBrief
    from brisa.web.ui.listview import bars_html

    at = datetime(2026, 3, 1, tzinfo=UTC)
    runs = [
        RunBrief(1, "t", "d", 'manual__<a href="x">', "manual", "failed", at, at,
                 at + timedelta(seconds=10), ""),
        RunBrief(2, "t", "d", "r2", "manual", "running", at, at, None, ""),
    ]  # fmt: skip
    html = str(bars_html(runs, "/teams/t/dags/d", at + timedelta(seconds=40)))
    assert html.count('<a class="bar') == 2
    assert 'href="/teams/t/dags/d/runs/manual__%3Ca%20href%3D%22x%22%3E"' in html
    assert 'aria-label="manual__&lt;a href=&#34;x&#34;&gt;: failed, 10.0 s"' in html
    assert 'class="bar state-running"' in html and 'style="--f: 1.00"' in html  # 40 s, longest
    assert "<a href=" not in html


def test_row_cells_as_the_template_wrote_them_escaped() -> None:
    """The DAG list row's last run, next run and tags, built in Python (same HTML as the
    template's macros and filters wrote; a page of them is byte-identical, W10 s19)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from brisa.store.listing import RunBrief
    from brisa.web.ui.listview import last_run_cell, next_run_cell, tags_html

    at = datetime(2026, 3, 1, 6, 30, 5, tzinfo=UTC)
    kolkata = ZoneInfo("Asia/Kolkata")
    run = RunBrief(1, "t", "d", "r1", "manual", "failed", at, at, at, "")
    assert str(last_run_cell(run, at, "/teams/t/dags/d/runs/r1", kolkata)) == (
        '<span class="state state-failed"><span class="glyph" aria-hidden="true">✕</span> '
        'failed</span><div class="small"><a href="/teams/t/dags/d/runs/r1"><time class="rel" '
        'datetime="2026-03-01T06:30:05Z" title="2026-03-01 12:00:05 +05:30">2026-03-01 12:00 '
        "+05:30</time></a></div>"
    )
    assert str(last_run_cell(None, None, "", kolkata)) == '<span class="muted">No runs yet</span>'
    assert str(next_run_cell(None, True, kolkata)) == '<span class="muted">paused</span>'
    assert str(next_run_cell(None, False, kolkata)) == '<span class="muted">—</span>'
    assert 'datetime="2026-03-01T06:30:05Z"' in str(next_run_cell(at, False, kolkata))
    assert str(tags_html(["a b", "<x>"])) == (
        '<a class="tag" href="/dags?tag=a%20b">a b</a> '
        '<a class="tag" href="/dags?tag=%3Cx%3E">&lt;x&gt;</a> '
    )
