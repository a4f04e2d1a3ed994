"""The attempt page and its log viewer (UI.md A.2.8, A.3) against a standalone of its own,
whose DAGs print what the stories need: a line every 100 ms, ANSI colours and markup, a long
log, an error, a secret from the worker's environment, and a task held back by a gate."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

SECRET = "canary-ui-7f3e"
LONG = 7_000  # lines of the long log: more than the viewer's DOM bound of 5,000
DAGS = f"""
import os
import sys
import time
from pathlib import Path

from brisa import DAG, task

with DAG("logs") as dag:

    @task
    def colours():
        print("\\x1b[31mred text\\x1b[0m and <script>alert(1)</script>")
        print("the secret is " + os.environ["MY_PASSWORD"])
        for n in range(60):
            print(f"line {{n}} WARNING maybe" if n % 20 == 0 else f"line {{n}}")
        return {{"rows": 3}}

    @task
    def long():
        sys.stdout.write("".join(f"row {{n}}\\n" for n in range({LONG})))

    @task
    def broken():
        for n in range(300):
            print(f"before {{n}}")
        print("ERROR something broke", file=sys.stderr)
        for n in range(300):
            print(f"after {{n}}")
        raise ValueError("boom")

    colours()
    long()
    broken()

with DAG("ticks", params={{"n": 40}}) as ticks:

    @task
    def ticker(context=None):
        for n in range(int(context.params["n"])):
            print(f"tick {{n}}", flush=True)
            time.sleep(0.1)

    ticker()

with DAG("gated", params={{"gate": ""}}) as gated:

    @task
    def hold(context=None):
        gate = Path(context.params["gate"])
        while not gate.exists():
            time.sleep(0.05)

    @task
    def later():
        print("later ran")

    hold() >> later()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("ui-attempt")
    (home / "dags").mkdir()
    (home / "dags" / "stories.py").write_text(DAGS)
    with Standalone(home, env={"MY_PASSWORD": SECRET}) as server:
        server.start(timeout=60)
        server.wait_for_dag("logs", 30)
        yield server


@pytest.fixture(scope="module")
def done_run(server: Standalone) -> str:
    run_id = str(server.trigger("logs")["run_id"])
    server.wait_for_run("logs", run_id, 60)
    return run_id


def attempt_url(dag: str, run_id: str, task: str, n: int = 1) -> str:
    quoted = urllib.parse.quote(run_id, safe="")
    return f"/teams/default/dags/{dag}/runs/{quoted}/tasks/{task}/attempts/{n}"


def raw_log(server: Standalone, dag: str, run_id: str, task: str, n: int = 1) -> bytes:
    with urllib.request.urlopen(
        server.url + "/api/v1" + attempt_url(dag, run_id, task, n) + "/logs/raw"
    ) as resp:
        return bytes(resp.read())


def shown_lines(page: Any) -> list[str]:
    """Each rendered line's text as the stored line is (UTC stamp shown, no line number)."""
    script = """els => els.map(e => (e.querySelector('time')?.getAttribute('datetime') ?? '')
                                  + ' ' + e.querySelector('.tx').textContent)"""
    return list(page.eval_on_selector_all("#log-lines .ll", script))


def stored_lines(data: bytes) -> list[str]:
    return data.decode().splitlines()


def test_live_log_follows_then_reads_final(server: Standalone, page: Any) -> None:
    """B.2 38: lines appear under LIVE; FINAL at the end; rendered = raw log, no dup, no gap."""
    run_id = str(server.trigger("ticks", {"n": 40})["run_id"])
    url = attempt_url("ticks", run_id, "ticker")
    api = "/api/v1" + url
    server.wait_until(lambda: server.get(api)["state"] == "running", 30, "ticker to run")
    page.goto(server.url + url)
    assert page.locator("#log-badge").inner_text() == "LIVE"
    page.wait_for_function(
        "() => document.querySelector('#log-lines').textContent.includes('tick 39')", timeout=20_000
    )
    page.wait_for_function(
        "() => document.querySelector('#log-badge').textContent === 'FINAL'", timeout=20_000
    )
    server.wait_until(lambda: server.get(api)["state"] == "success", 20, "ticker to end")
    page.wait_for_function(
        "() => document.querySelector('#att-head h1').textContent.includes('success')"
    )
    assert shown_lines(page) == stored_lines(raw_log(server, "ticks", run_id, "ticker"))
    ticks = [line for line in shown_lines(page) if " tick " in line]
    assert [line.rsplit(" ", 1)[1] for line in ticks] == [str(n) for n in range(40)]


def test_scrolling_up_pauses_follow_and_end_resumes(server: Standalone, page: Any) -> None:
    """B.2 40: scroll up while following: the view stays, "N new lines" counts, End resumes."""
    run_id = str(server.trigger("ticks", {"n": 200})["run_id"])  # still ticking at the end
    url = attempt_url("ticks", run_id, "ticker")
    server.wait_until(
        lambda: server.get("/api/v1" + url)["state"] == "running", 30, "ticker to run"
    )
    page.goto(server.url + url)
    page.wait_for_function(
        "() => document.querySelector('#log-lines').textContent.includes('tick 30')", timeout=20_000
    )
    page.eval_on_selector("#log-scroll", "el => { el.scrollTop = el.scrollTop - 200; }")
    top = page.eval_on_selector("#log-scroll", "el => el.scrollTop")
    page.wait_for_function("() => Number(document.querySelector('#log-new').textContent) >= 3")
    chip = page.locator("#log-paused")
    assert chip.is_visible() and "Following paused" in chip.inner_text()
    assert page.eval_on_selector("#log-scroll", "el => el.scrollTop") == top
    page.locator("#log-scroll").focus()
    page.keyboard.press("End")
    page.wait_for_function(
        "() => { const s = document.querySelector('#log-scroll');"
        " return s.scrollHeight - s.scrollTop - s.clientHeight < 5; }"
    )
    assert not chip.is_visible()


def test_long_log_pages_within_the_dom_bound(server: Standalone, done_run: str, page: Any) -> None:
    """B.2 41: loading earlier pages to the top never holds more than 5,000 lines; the gauge
    shows the byte offset."""
    page.goto(server.url + attempt_url("logs", done_run, "long"))
    assert page.locator("#log-lines .ll").count() == 1000
    counts = []
    for _ in range(10):
        earlier = page.locator(".more-before")
        if earlier.count() == 0:
            break
        before = page.locator("#log-lines .ll").first.get_attribute("data-n")
        # Scroll to the top (the sentinel comes into view) until an earlier page is in. A
        # sentinel that is in view when it arrives loads its page by itself, so the top may be
        # reached (no sentinel left) while we wait.
        page.wait_for_function(
            f"""() => {{ document.querySelector('#log-scroll').scrollTop = 0;
                  return document.querySelector('#log-lines .ll').dataset.n !== '{before}'
                    || !document.querySelector('.more-before'); }}""",
            polling=250,
        )
        counts.append(page.locator("#log-lines .ll").count())
    assert max(counts) <= 5000 and counts[-1] == 5000
    assert page.locator("#log-lines .ll").first.get_attribute("data-n") == "1"
    assert page.locator(".more-after").count() == 1  # the trimmed end can be loaded again
    page.eval_on_selector(
        "#log-scroll", "el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }"
    )
    page.wait_for_function(
        "() => document.querySelector('#log-pos').textContent.startsWith('0 / ')"
    )


def test_failed_attempt_opens_on_its_first_error(
    server: Standalone, done_run: str, page: Any
) -> None:
    """B.2 43: a failed attempt's log opens on its first ERROR line, highlighted, in view;
    "Last error" goes to the last one (A.3-1)."""
    page.goto(server.url + attempt_url("logs", done_run, "broken"))
    hit = page.locator("#log-lines .ll.hit")
    assert hit.count() == 1
    assert "ERROR something broke" in hit.inner_text()
    assert hit.get_attribute("data-lvl") == "error"
    assert hit.is_visible() and hit.evaluate(
        """el => { const r = el.getBoundingClientRect();
                   const s = document.querySelector('#log-scroll').getBoundingClientRect();
                   return r.top >= s.top && r.bottom <= s.bottom; }"""
    )
    assert "ValueError: boom" in page.locator(".facts").inner_text()
    first = int(str(hit.get_attribute("data-n")))
    page.get_by_role("link", name="Last error").click()  # A.3-1: jump to the last error
    page.wait_for_url(re.compile("error=last"))
    last = page.locator("#log-lines .ll.hit")
    last.wait_for()
    assert int(str(last.get_attribute("data-n"))) > first
    assert last.get_attribute("data-lvl") == "error"


def test_minimum_level_and_context(server: Standalone, done_run: str, page: Any) -> None:
    """B.2 44: minimum level "warning" shows only WRN/ERR lines; context shows ±20 lines."""
    page.goto(server.url + attempt_url("logs", done_run, "colours"))
    page.select_option("#log-level", "warning")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"level=warning"))
    levels = page.eval_on_selector_all("#log-lines .ll", "els => els.map(e => e.dataset.lvl)")
    assert levels and set(levels) <= {"warning", "error"}
    page.locator("#log-lines .ll", has_text="line 20 WARNING").click()
    page.wait_for_selector(".ctx")
    page.wait_for_function(
        "() => { const n = [...document.querySelectorAll('#log-lines .ll')].map(e => e.dataset.n);"
        " return new Set(n).size === n.length; }"
    )
    assert page.locator(".ctx .ll").count() == 41
    numbers = page.eval_on_selector_all(
        "#log-lines .ll", "els => els.map(e => Number(e.dataset.n))"
    )
    assert numbers == sorted(set(numbers))  # each line once, in order


def test_selection_copies_lines_without_numbers(
    server: Standalone, done_run: str, page: Any
) -> None:
    """B.2 45: three selected lines copy as exactly those lines, without line numbers."""
    page.goto(server.url + attempt_url("logs", done_run, "colours") + "?ts=off")
    wanted = [f"line {n}" for n in (5, 6, 7)]
    first = page.locator("#log-lines .ll", has_text=re.compile(r"line 5$"))
    number = int(first.get_attribute("data-n"))
    copied = page.evaluate(
        """n => { const r = document.createRange();
            r.setStartBefore(document.getElementById('L' + n));
            r.setEndAfter(document.getElementById('L' + (n + 2)).querySelector('.tx'));
            const s = getSelection(); s.removeAllRanges(); s.addRange(r); return s.toString(); }""",
        number,
    )
    assert copied.strip().split("\n") == wanted


def test_download_is_the_raw_log_named_by_ids(server: Standalone, done_run: str, page: Any) -> None:
    """B.2 46: Download yields <team>__<dag>__<run>__<task>__try<n>.log, identical to the API's
    raw log (the JSON pages of /logs, joined)."""
    page.goto(server.url + attempt_url("logs", done_run, "long") + "?tab=logs")
    with page.expect_download() as info:
        page.locator("#log-download").click()
    download = info.value
    assert download.suggested_filename == f"default__logs__{done_run}__long__try1.log"
    data = Path(download.path()).read_bytes()
    pages, offset = [], 0
    quoted = urllib.parse.quote(done_run, safe="")
    base = f"/api/v1/teams/default/dags/logs/runs/{quoted}/tasks/long/logs"
    while True:
        got = server.get(f"{base}?try=1&offset={offset}")
        if got["next_offset"] == offset:
            break
        pages.append(got["content"])
        offset = got["next_offset"]
    assert data == "".join(pages).encode() and data.count(b"\n") > LONG


def test_markup_shows_literally_ansi_renders_secret_masked(
    server: Standalone, done_run: str, page: Any
) -> None:
    """B.2 48, 49: `<script>` shows as text, no dialog; ANSI red renders; the secret printed
    by the task is masked in the viewer and the download."""
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server.url + attempt_url("logs", done_run, "colours"))
    line = page.locator("#log-lines .ll", has_text="<script>alert(1)</script>")
    assert line.count() == 1
    assert line.locator(".ansi-fg-1").inner_text() == "red text"
    assert dialogs == []
    assert SECRET not in page.content()
    assert page.locator("#log-lines .ll", has_text="the secret is ***").count() == 1
    assert SECRET.encode() not in raw_log(server, "logs", done_run, "colours")


def test_timestamps_follow_the_display_zone(
    server: Standalone, done_run: str, new_page: Any
) -> None:
    """B.2 64: a line's stamp shows in the display zone; `t` switches to UTC; text unchanged."""
    page = new_page()
    page.context.add_cookies([{"name": "brisa_tz", "value": "Asia/Kolkata", "url": server.url}])
    page.goto(server.url + attempt_url("logs", done_run, "colours"))
    line = page.locator("#log-lines .ll", has_text="line 7").first
    stamp = line.locator("time").get_attribute("datetime")
    hour, minute = int(stamp[11:13]), int(stamp[14:16])
    local = (hour * 60 + minute + 330) % 1440
    assert line.locator(".ts-l").inner_text().startswith(f"{local // 60:02d}:{local % 60:02d}")
    assert line.locator(".ts-u").is_hidden()
    page.locator("body").press("t")
    assert line.locator(".ts-u").inner_text() == stamp[11:23]
    assert line.locator(".ts-l").is_hidden()
    assert line.locator(".tx").inner_text() == "line 7"
    assert "ts=utc" in page.url


def test_attempt_that_never_started_says_why_it_waits(
    server: Standalone, tmp_path: Path, page: Any
) -> None:
    """B.2 75: an attempt that never started shows the Why-waiting reason, worded as waiting,
    and its Logs tab says nothing has started."""
    gate = tmp_path / "gate"
    run_id = str(server.trigger("gated", {"gate": str(gate)})["run_id"])
    hold = "/api/v1" + attempt_url("gated", run_id, "hold")
    server.wait_until(lambda: server.get(hold)["state"] == "running", 30, "hold to run")
    page.goto(server.url + attempt_url("gated", run_id, "later"))
    reasons = page.locator("#waiting-reasons").inner_text()
    assert "upstream hold is running (trigger rule all_success)" in reasons
    assert "waiting, not failed" in page.locator(".tab-panel").inner_text()
    page.get_by_role("link", name="Logs").click()
    assert "Nothing has started" in page.locator("#log-missing").inner_text()
    gate.write_text("go")
    server.wait_for_run("gated", run_id, 30)


def test_tries_strip_details_and_code_tabs(server: Standalone, done_run: str, page: Any) -> None:
    """A.2.8: the header, the tries strip, Details (config redacted, return value) and Code."""
    page.goto(server.url + attempt_url("logs", done_run, "colours") + "?tab=details")
    assert "try 1 of 1" in page.locator("h1").inner_text()
    assert page.locator("#att-strip .chip").count() == 1
    assert '"rows": 3' in page.locator("#return-value").inner_text()
    assert page.locator("table.config tr").count() > 5
    page.get_by_role("link", name="Code").click()
    hit = page.locator(".src .src-hit")
    assert "def colours" in hit.inner_text()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_attempt_log_passes_axe(
    server: Standalone, done_run: str, new_page: Any, scheme: str
) -> None:
    """B.2 66: the attempt log has no serious or critical axe violation, light and dark."""
    page = new_page(bypass_csp=True, color_scheme=scheme)
    page.goto(server.url + attempt_url("logs", done_run, "colours") + "?q=line+1")
    found = chromium.axe_violations(page)
    assert found == [], [(v["id"], [n["html"][:200] for n in v["nodes"][:3]]) for v in found]


def test_a_killed_worker_keeps_the_lines_and_says_what_was_received(
    server: Standalone, page: Any
) -> None:
    """B.2 47: the worker of a running attempt is killed with SIGKILL. The lines already shown
    stay; a notice says the worker was lost, when the attempt ended and the last line received;
    no dialog; the attempt ends as the scheduler decides (failed: no retries)."""
    import os
    import signal

    run_id = str(server.trigger("ticks", {"n": 600})["run_id"])
    url = attempt_url("ticks", run_id, "ticker")
    api = "/api/v1" + url
    server.wait_until(lambda: server.get(api)["state"] == "running", 30, "ticker to run")
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    page.goto(server.url + url)
    page.wait_for_function(
        "() => document.querySelector('#log-lines').textContent.includes('tick 5')", timeout=20_000
    )
    os.kill(int(server.get(api)["pid"]), signal.SIGKILL)
    page.locator("#log-lost").wait_for(timeout=60_000)
    notice = page.locator("#log-lost").inner_text()
    assert "killed or lost" in notice and "The last line received is line" in notice
    assert server.get(api)["state"] == "failed"
    shown = [line for line in shown_lines(page) if " tick " in line]
    assert len(shown) >= 6 and "tick 0" in shown[0]
    stored = stored_lines(raw_log(server, "ticks", run_id, "ticker"))
    assert shown_lines(page) == stored[: len(shown_lines(page))]  # nothing lost, nothing twice
    assert dialogs == []


def test_search_moves_between_matches_outside_the_loaded_lines(
    server: Standalone, done_run: str, page: Any
) -> None:
    """B.2 42 (on a 7,000-line log): a search opens on its first match, counted over the whole
    log; `N` from the first goes to the last, which is not among the lines loaded, and loads
    the part of the log it is in."""
    url = attempt_url("logs", done_run, "long")
    page.goto(server.url + url + "?tab=logs&q=row+120")
    assert page.locator("#log-matches").inner_text() == "1 / 11 matches"
    page.locator("#log-lines .ll.hit", has_text="row 120").wait_for()
    assert page.locator("#L1210").count() == 0  # row 1209 (line 1210) is not loaded
    page.locator("#log-lines").click()
    page.keyboard.press("N")
    page.wait_for_url(re.compile(r"at=\d+"))
    page.locator("#log-lines .ll.hit", has_text="row 1209").wait_for()
    assert page.locator("#log-matches").inner_text() == "11 / 11 matches"
