"""The DAG page in a browser (UI.md A.2.3-A.2.7, A.4.2-A.4.3): grid, panels, graph, Gantt and the
clear dialog, against a standalone of its own whose DAG has a task that fails until a flag file
exists (so clearing it makes it succeed). Story numbers are UI.md B.2's."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

DAG_FILE = """
from datetime import datetime
from pathlib import Path

from brisa import DAG, shell, task

FLAG = Path({flag!r})

with DAG("pipe", tags=["ui"], params={{"size": 3}},
         description="Extract, load (fails until fixed), report.\\n\\nA side branch succeeds."):

    @task
    def extract() -> int:
        return 1

    @task(retries=0)
    def load(n: int) -> int:
        if not FLAG.exists():
            raise RuntimeError("load failed: the flag file is missing")
        return n

    @task
    def report(n: int) -> None:
        print(n)

    @task
    def side(n: int) -> int:
        return n

    first = extract()
    report(load(first))
    side(first)

with DAG("quiet", schedule="30 2 * * *", timezone="Europe/Berlin",
         start_date=datetime(2030, 1, 1), catchup=False):

    @task
    def only() -> None:
        pass

    only()

with DAG("held"):

    @task
    def wait_for_release() -> None:
        import time
        while not (FLAG.parent / "release").exists():
            time.sleep(0.1)

    @task
    def then() -> None:
        pass

    wait_for_release() >> then()

with DAG("huge"):  # a tree: step i runs after step (i - 1) // 2
    steps = [shell(f"n{{i:03d}}", "true") for i in range(600)]
    for i in range(1, 600):
        steps[(i - 1) // 2] >> steps[i]

with DAG("wide"):
    fan = [shell(f"step_{{i:02d}}", "true") for i in range(60)]
    for up, down in zip(fan[::2], fan[1::2]):
        up >> down
"""
DAG = "/teams/default/dags/pipe"
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", ROOT / ".artifacts")) / "ui"
API = "/api/v1" + DAG


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("ui-dag")
    (home / "dags").mkdir()
    flag = home / "fixed"
    (home / "dags" / "pipe.py").write_text(DAG_FILE.format(flag=str(flag)))
    with Standalone(home) as server:
        server.start(timeout=60)
        server.wait_until(lambda: len(server.get("/api/v1/dags")["dags"]) == 5, 30, "DAGs parsed")
        for _ in range(2):  # two runs, both with `load` failed
            run_id = server.request("POST", API + "/runs", {})["run_id"]
            server.wait_until(
                lambda r=run_id: server.get(f"{API}/runs/{r}")["state"] == "failed", 60, "failed"
            )
        yield server


def runs(server: Standalone) -> list[dict[str, Any]]:
    return list(server.get(API + "/runs")["runs"])  # newest first


def test_cell_click_fetches_only_the_panel_and_the_url_keeps_the_selection(
    server: Standalone, page: Any
) -> None:
    """Stories 1, 2, 21: one request per cell click, the path names the task; reload and back
    reproduce the selection; cells and bars are real links."""
    newest = runs(server)[0]["run_id"]
    page.goto(server.url + DAG)
    page.wait_for_function("() => window.htmx !== undefined")
    assert page.get_by_role("heading", name="DAG details").is_visible()
    pk = page.locator(".gh .bar").last.get_attribute("id").removeprefix("b-")
    cell = page.locator(f"#c-{pk}-extract a")
    assert cell.get_attribute("href") == f"{DAG}/runs/{newest}/tasks/extract"
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    cell.click()
    page.get_by_role("heading", name=re.compile("^Task extract")).wait_for()
    assert [r.removeprefix(server.url) for r in requests] == [
        f"/_{DAG}/runs/{newest}/tasks/extract"
    ]
    assert page.url == f"{server.url}{DAG}/runs/{newest}/tasks/extract"
    page.reload()
    assert page.get_by_role("heading", name=re.compile("^Task extract")).is_visible()
    page.go_back()
    page.get_by_role("heading", name="DAG details").wait_for()


def test_grid_is_one_tab_stop_with_arrow_keys(server: Standalone, page: Any) -> None:
    """Story 22: Tab into the grid, arrows and Enter open the expected cell, Tab leaves."""
    older, newer = runs(server)[1]["run_id"], runs(server)[0]["run_id"]
    page.goto(server.url + DAG)
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Filter").focus()
    page.keyboard.press("Tab")
    if page.evaluate("() => !document.activeElement.closest('[role=grid]')"):
        page.keyboard.press("Tab")  # past "Clear filter" when shown
    focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert focused.startswith(f"extract, run {newer}")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"/runs/{older}/tasks/"))
    # The URL changes before the panel is swapped in: wait for the task's heading itself.
    second_task = page.locator('[role="row"]').nth(2).locator(".gt").inner_text()
    page.locator("#panel h2", has_text=re.compile(f"^Task {re.escape(second_task)}")).wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("() => !document.activeElement.closest('[role=grid]')")
    assert page.locator("[role=grid] [tabindex='0']").count() == 1


def test_root_filter_keeps_the_task_and_its_neighbours(server: Standalone, page: Any) -> None:
    """Story 27: root=load, depth=1 leaves extract, load and report, in the URL. Hovering a
    task's name dims the rows that are neither upstream nor downstream of it."""
    page.goto(server.url + DAG)
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator('[role="rowheader"]', has_text="load").hover()
    side = page.locator('.gr:has([role="rowheader"]:text-is("side"))')
    page.wait_for_function("() => document.querySelectorAll('.gr.dim').length === 1")
    assert "dim" in str(side.get_attribute("class"))
    page.mouse.move(0, 0)
    page.wait_for_function("() => document.querySelectorAll('.gr.dim').length === 0")
    page.get_by_label("Around").select_option("load")
    page.get_by_label("Depth").fill("1")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("root=load"))
    assert "depth=1" in page.url
    rows = page.locator('[role="rowheader"]').all_inner_texts()
    assert rows == ["extract", "load", "report"]


def test_run_page_header_progress_gantt_and_params(server: Standalone, new_page: Any) -> None:
    """Stories 33, 34, 37: the run header, the progress summary, the Gantt's bars with the zone
    on its axis, and the params tab."""
    page = new_page(bypass_csp=True)
    run_id = runs(server)[1]["run_id"]
    page.goto(f"{server.url}{DAG}/runs/{run_id}")
    assert page.locator(".progress").inner_text() == "4/4 tasks done, 2 failed, 0 running"
    assert page.locator("#run-head").get_by_text("failed").first.is_visible()
    page.get_by_role("button", name="Only failed").click()
    page.wait_for_url(re.compile("only_failed=1"))
    assert page.locator("table.tasks tbody tr").count() == 2
    page.get_by_role("link", name="Gantt").click()
    page.wait_for_url(re.compile("tab=gantt"))
    assert page.locator(".gantt-zone").inner_text() == "UTC"
    assert page.locator(".gantt-row").count() == 3  # report never started
    assert page.locator(".seg-run").count() >= 3
    page.get_by_role("link", name="Params", exact=True).click()
    assert '"size": 3' in page.locator("pre.json").last.inner_text()
    assert not [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in chromium.axe_violations(page)
    ]


def test_clear_a_failed_task_with_downstream_reruns_it(server: Standalone, new_page: Any) -> None:
    """Stories 50, 51, 72: the dialog focuses Cancel, Esc closes it and focus returns; the
    preview's count is the button's; after confirming the cells reset and run again."""
    page = new_page(bypass_csp=True)
    run = runs(server)[0]
    page.goto(f"{server.url}{DAG}/runs/{run['run_id']}/tasks/load")
    page.wait_for_function("() => window.htmx !== undefined")
    opener = page.get_by_role("button", name="Clear…")
    opener.click()
    dialog = page.locator("#action-dialog")
    dialog.wait_for()
    assert page.evaluate("() => document.activeElement.id") == "ad-cancel"
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.evaluate("() => document.activeElement.textContent") == "Clear…"
    opener.click()
    dialog.wait_for()
    assert page.locator("#ad-count").inner_text() == "2"
    assert page.locator("#ad-confirm").inner_text() == "Clear 2 task instances"
    assert dialog.locator("table.preview tbody tr").count() == 2
    page.get_by_label("Downstream tasks").uncheck()
    page.wait_for_function("() => document.getElementById('ad-count').textContent === '1'")
    assert page.locator("#ad-confirm").inner_text() == "Clear 1 task instance"
    page.get_by_label("Downstream tasks").check()
    page.wait_for_function("() => document.getElementById('ad-count').textContent === '2'")
    assert not [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in chromium.axe_violations(page)
    ]
    (server.home / "fixed").touch()
    page.locator("#ad-confirm").click()
    dialog.wait_for(state="detached")
    assert "Cleared 2 task instances" in page.locator("#toasts").inner_text()
    pk = run_pk(page, run["run_id"])
    page.wait_for_function(f"() => !document.querySelector('#c-{pk}-load').matches('.s-failed')")
    # No reload, no tick: the page's event stream follows the run again (it had ended when the
    # page was rendered) and each change re-fetches its column.
    page.wait_for_function(
        f"() => document.querySelector('#c-{pk}-report').matches('.s-success')", timeout=30_000
    )
    assert "s-success" in str(page.locator(f"#c-{pk}-load").get_attribute("class")).split()
    page.wait_for_function(
        "() => document.querySelector('#panel h2').textContent.includes('success')"
    )
    assert page.get_by_role("link", name="try 2", exact=True).is_visible()
    states = {t["task_id"]: t["state"] for t in server.get(f"{API}/runs/{run['run_id']}")["tasks"]}
    assert states == {t: "success" for t in ("extract", "load", "report", "side")}


def test_a_run_that_runs_again_is_followed_live_without_reload(
    server: Standalone, new_page: Any
) -> None:
    """Stories 23, 50: pages rendered while a run had ended; it is cleared from elsewhere (the
    API) and runs again. The DAG page's cells and the run page's header turn green; neither
    page reloads."""
    flag = server.home / "fixed"
    flag.unlink(missing_ok=True)
    run_id = server.request("POST", API + "/runs", {})["run_id"]
    server.wait_until(lambda: server.get(f"{API}/runs/{run_id}")["state"] == "failed", 60, "fail")
    flag.touch()
    dag_page, run_page = new_page(), new_page()
    loads: list[str] = []
    for shown, path in ((dag_page, DAG), (run_page, f"{DAG}/runs/{run_id}")):
        shown.goto(server.url + path)
        shown.wait_for_function("() => document.body.getAttribute('sse-connect') !== null")
        shown.on("load", lambda p: loads.append(p.url))
    pk = run_pk(dag_page, run_id)
    assert dag_page.locator(f"#c-{pk}-load").get_attribute("class").split().count("s-failed")
    server.post(f"{API}/runs/{run_id}/clear", {"task_ids": ["load"], "downstream": True})
    dag_page.wait_for_function(
        f"() => document.querySelector('#c-{pk}-report').matches('.s-success')", timeout=30_000
    )
    run_page.locator("#run-head h2 .state-success").wait_for(timeout=30_000)
    assert loads == []  # neither page reloaded


def run_pk(page: Any, run_id: str) -> str:
    bar = page.locator(f'.bar[href*="/runs/{run_id}"]').first
    return str(bar.get_attribute("id")).removeprefix("b-")


def test_graph_draws_every_task_and_lists_them(server: Standalone, new_page: Any) -> None:
    """Stories 28 (small DAG: laid out on the main thread), 31, 32: SVG nodes with states, the
    List view with upstream and downstream, rankdir in the URL; axe on the list view."""
    page = new_page(bypass_csp=True)
    page.goto(server.url + DAG + "?view=graph")
    page.wait_for_function("() => document.getElementById('graph').dataset.drawn === '4'")
    assert page.locator("#graph-canvas a.node").count() == 4
    page.get_by_role("link", name=re.compile("^Direction")).click()
    page.wait_for_url(re.compile("rankdir=TB"))
    page.get_by_role("button", name="List").click()
    table = page.locator(".graph-table")
    assert table.is_visible()
    load = table.locator("tr[data-task=load] td")
    assert load.nth(2).inner_text() == "extract" and load.nth(3).inner_text() == "report"
    assert not [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in chromium.axe_violations(page)
    ]


def test_dag_without_runs_offers_trigger_and_next_time(server: Standalone, new_page: Any) -> None:
    """Story 75 and the DAG header: no runs -> "No runs yet - Trigger" with the next time;
    schedule and next fires in the DAG's zone; axe in the dark theme."""
    page = new_page(bypass_csp=True, color_scheme="dark")
    page.goto(server.url + "/teams/default/dags/quiet")
    empty = page.locator(".grid-wrap .empty")
    assert empty.inner_text().startswith("No runs yet — Trigger; the next scheduled run is")
    assert empty.get_by_role("link", name="Trigger").get_attribute("href").endswith("/trigger")
    assert page.locator(".fires li").count() == 3
    assert "Europe/Berlin" in page.locator(".fires li").first.inner_text()
    assert not [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in chromium.axe_violations(page)
    ]


def test_unknown_run_or_task_is_a_404_page(server: Standalone, page: Any) -> None:
    """Bad input: unknown ids and malformed filters answer a page, never a traceback."""
    assert page.goto(f"{server.url}{DAG}/runs/nope").status == 404
    run_id = runs(server)[0]["run_id"]
    assert page.goto(f"{server.url}{DAG}/runs/{run_id}/tasks/nope").status == 404
    assert page.goto(f"{server.url}{DAG}?depth=many").status == 400
    assert "Traceback" not in page.content()


def test_a_failing_fragment_says_so_in_place_and_the_rest_works(
    server: Standalone, page: Any
) -> None:
    """Story 74 (A.2.14): a fault injected into one fragment (the task panel answers a proxy's
    502, then the connection drops): only the panel says so, with the request id and Retry;
    the grid still opens other panels; Retry loads the panel once the fault is gone."""
    newest = runs(server)[0]["run_id"]
    page.goto(server.url + DAG)
    page.wait_for_function("() => window.htmx !== undefined")
    pk = run_pk(page, newest)
    bars = page.locator(".gh .bar").count()
    panel = re.compile(re.escape(f"/_{DAG}/runs/{newest}/tasks/extract") + "$")
    bad_gateway = {"status": 502, "headers": {"X-Request-Id": "0123456789ab"}, "body": "<h1>Bad"}
    page.route(panel, lambda route: route.fulfill(**bad_gateway))
    page.locator(f"#c-{pk}-extract a").click()
    error = page.locator("#panel .inline-error")
    error.wait_for()
    assert "failed to load (HTTP 502)" in error.inner_text()
    assert "request id 0123456789ab" in error.inner_text()
    assert page.locator("#panel h1").count() == 0  # the proxy's page is not shown
    assert page.locator(".gh .bar").count() == bars  # the grid is untouched
    page.screenshot(path=ARTIFACTS / "test_fragment_failed_in_place.png")
    page.locator(f"#c-{pk}-side a").click()
    page.get_by_role("heading", name=re.compile("^Task side")).wait_for()
    page.unroute(panel)
    page.route(panel, lambda route: route.abort())
    page.locator(f"#c-{pk}-extract a").click()
    page.locator("#panel .inline-error", has_text="could not reach the server").wait_for()
    page.unroute(panel)
    page.get_by_role("button", name="Retry").click()
    page.get_by_role("heading", name=re.compile("^Task extract")).wait_for()
    assert page.locator("#panel .inline-error").count() == 0


def test_the_graph_follows_a_running_run_with_overlay_requests_only(
    server: Standalone, page: Any
) -> None:
    """Story 29: while a run executes, a node's state and accessible name go from running to
    success without reload; the structure is fetched once, then only the overlay."""
    held = "/teams/default/dags/held"
    run_id = server.post(f"/api/v1{held}/runs")["run_id"]
    run_api = f"/api/v1{held}/runs/{run_id}"
    server.wait_until(
        lambda: server.get(run_api)["tasks"][0]["state"] == "running", 60, "the task runs"
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url.removeprefix(server.url)))
    page.goto(f"{server.url}{held}/runs/{run_id}?view=graph")
    page.wait_for_function("() => document.getElementById('graph').dataset.drawn === '2'")
    node = page.locator("#graph-canvas a.node[data-task=wait_for_release]")
    assert node.get_attribute("aria-label") == "wait_for_release, running"
    page.wait_for_function("() => document.body.getAttribute('sse-connect') !== null")
    (server.home / "release").touch()
    page.locator("#graph-canvas a.node[data-task=then][aria-label='then, success']").wait_for(
        timeout=30_000
    )
    assert node.get_attribute("aria-label") == "wait_for_release, success"
    assert "s-success" in str(node.get_attribute("class"))
    graph = [r for r in requests if "/graph/" in r]
    assert len([r for r in graph if "/graph/structure" in r]) == 1
    assert len([r for r in graph if "/graph/overlay" in r]) >= 2
    page.wait_for_function("() => document.getElementById('graph-live') === null")


def test_a_graph_above_500_tasks_waits_for_a_root_or_a_choice(
    server: Standalone, page: Any
) -> None:
    """Story 30: 600 tasks: no layout starts by itself, the prompt and the list show; a root
    with depth 2 draws its neighbourhood (<= 100 nodes); "Draw all anyway" draws everything,
    fitted to the pane."""
    huge = "/teams/default/dags/huge"
    page.goto(f"{server.url}{huge}?view=graph")
    page.get_by_role("button", name="Draw all 600 tasks anyway").wait_for()
    assert "This DAG has 600 tasks" in page.locator("#graph-guard").inner_text()
    assert page.locator(".graph-table").is_visible()
    assert "drawn" not in page.evaluate("() => ({...document.getElementById('graph').dataset})")
    page.screenshot(path=ARTIFACTS / "test_graph_guard_prompt.png")
    page.get_by_label("Around").select_option("n010")
    page.get_by_label("Depth").fill("2")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("root=n010"))
    page.wait_for_function("() => document.getElementById('graph').dataset.drawn !== undefined")
    drawn = int(page.evaluate("() => document.getElementById('graph').dataset.drawn"))
    assert drawn == 9  # n001, n004 above; n010; n021, n022 and their four children below
    page.goto(f"{server.url}{huge}?view=graph")
    page.get_by_role("button", name="Draw all 600 tasks anyway").click()
    page.wait_for_function(
        "() => document.getElementById('graph').dataset.drawn === '600'", timeout=60_000
    )
    assert page.locator("#graph-canvas a.node").count() == 600
    # Fitted to the pane, far below 50 %: nodes are drawn in their simplified form (story 32).
    assert "simple" in str(page.locator("#graph-canvas svg").get_attribute("class"))


def tab_to(page: Any, check: str, what: str, limit: int = 60) -> None:
    """Press Tab until `check` (a JS expression over `el`, the focused element) holds; each
    stop has a visible focus indicator."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!({check}); }}"):
            style = page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return [s.outlineStyle, s.outlineWidth]; }"
            )
            assert style[0] not in ("", "none") and style[1] != "0px", (what, style)
            return
    raise AssertionError(f"Tab never reached {what}")


def test_keyboard_only_trigger_open_the_failed_log_and_clear(server: Standalone, page: Any) -> None:
    """Story 67: with the keyboard only — trigger the DAG (`t`, then mod+Enter), open the
    run's failed task from the grid, open its log, go back and clear it — every step with a
    visible focus indicator (screenshots saved)."""
    (server.home / "fixed").unlink(missing_ok=True)
    page.goto(server.url + DAG)
    page.wait_for_function("() => window.htmx !== undefined")
    before = {r["run_id"] for r in runs(server)}
    page.keyboard.press("t")
    page.wait_for_url("**/trigger")
    page.wait_for_function("() => window.htmx !== undefined")
    tab_to(page, "el.tagName === 'INPUT' && el.closest('main form')", "the form's first field")
    page.screenshot(path=ARTIFACTS / "keyboard-0-trigger-field.png")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile("/runs/"))
    run_id = next(r["run_id"] for r in runs(server) if r["run_id"] not in before)
    server.wait_until(
        lambda: server.get(f"{API}/runs/{run_id}")["state"] == "failed", 60, "the run failed"
    )
    page.goto(f"{server.url}{DAG}/runs/{run_id}")  # the grid as it is now
    page.wait_for_function("() => window.htmx !== undefined")
    pk = run_pk(page, run_id)
    tab_to(page, "el.closest('[role=grid]')", "the grid")
    for _ in range(10):  # down the newest column to load
        label = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        if label.startswith("load,") and run_id in label:
            break
        page.keyboard.press("ArrowDown" if label.split(",")[0] != "load" else "ArrowRight")
    page.screenshot(path=ARTIFACTS / "keyboard-1-grid-cell.png")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile("^Task load")).wait_for()
    tab_to(page, "el.textContent.trim() === 'try 1'", "the try's link")
    page.screenshot(path=ARTIFACTS / "keyboard-2-try-link.png")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/tasks/load/attempts/1"))
    page.locator("#log-lines .ll.hit", has_text="Traceback").wait_for()
    page.screenshot(path=ARTIFACTS / "keyboard-3-failed-log.png")
    page.go_back()
    page.get_by_role("heading", name=re.compile("^Task load")).wait_for()
    tab_to(page, "el.textContent === 'Clear…'", "Clear…")
    page.screenshot(path=ARTIFACTS / "keyboard-4-clear-button.png")
    (server.home / "fixed").touch()
    page.keyboard.press("Enter")
    page.locator("#action-dialog").wait_for()
    assert page.evaluate("() => document.activeElement.id") == "ad-cancel"
    tab_to(page, "el.id === 'ad-confirm'", "the confirm button")
    page.screenshot(path=ARTIFACTS / "keyboard-5-confirm.png")
    page.keyboard.press("Enter")
    page.locator("#action-dialog").wait_for(state="detached")
    page.wait_for_function(
        f"() => document.querySelector('#c-{pk}-report').matches('.s-success')", timeout=30_000
    )


def test_graph_above_50_nodes_is_laid_out_in_a_worker(server: Standalone, page: Any) -> None:
    """Story 28 (worker path): 60 nodes are drawn, the layout ran in a Web Worker; a second
    visit paints from the IndexedDB cache without a worker."""
    page.goto(server.url + "/teams/default/dags/wide?view=graph")
    page.wait_for_function("() => document.getElementById('graph').dataset.drawn === '60'")
    assert page.locator("#graph-canvas a.node").count() == 60
    data = "() => ({...document.getElementById('graph').dataset})"
    assert page.evaluate(data).get("worker_used") == "1"
    page.reload()
    page.wait_for_function("() => document.getElementById('graph').dataset.drawn === '60'")
    again = page.evaluate(data)
    assert again.get("cached") == "1" and "worker_used" not in again


def test_pause_from_the_header_shows_paused_in_words(server: Standalone, page: Any) -> None:
    """Story 8 (the DAG page's toggle) and A.6: the state reads "Paused" / "Active"."""
    page.goto(server.url + "/teams/default/dags/quiet")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_role("button", name="Unpause").wait_for()
    assert page.locator(".pause-state").inner_text() == "Paused"
    assert "none while paused" in page.locator(".facts").first.inner_text()
    assert server.get("/api/v1/teams/default/dags/quiet")["is_paused"] is True
    page.keyboard.press("p")  # the shortcut does what the button does
    page.get_by_role("button", name="Pause", exact=True).wait_for()
    assert page.locator(".pause-state").inner_text() == "Active"


def test_grid_and_task_panel_pass_axe_in_the_dark_theme(server: Standalone, new_page: Any) -> None:
    """Story 66 (DAG grid with runs, dark), 68: every cell names its state in words."""
    page = new_page(bypass_csp=True, color_scheme="dark")
    run_id = runs(server)[1]["run_id"]
    page.goto(f"{server.url}{DAG}/runs/{run_id}/tasks/load")
    labels = page.locator("[role=gridcell] a").evaluate_all(
        "cells => cells.map(c => c.getAttribute('aria-label'))"
    )
    assert labels and all(re.search(r", (success|failed|upstream failed)", x) for x in labels)
    assert not chromium.axe_violations(page)
