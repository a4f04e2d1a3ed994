"""Why a task waits, and the run actions that end waiting (UI.md A.2.8 "Why waiting", A.4.2),
in a browser against a standalone of its own: a pool of one slot two tasks compete for (story
35), a DAG at its task limit, "Mark success" on a failed task (story 53), "Cancel run"
(story 55), and the task-instance search's bulk clear, mark success and cancel (story 54).
Tasks that hold on wait for a flag file, so the test decides when they end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

DAG_FILE = """
import time
from pathlib import Path

from brisa import DAG, task

HOME = Path({home!r})


def hold(flag: str) -> None:
    while not (HOME / flag).exists():
        time.sleep(0.1)


with DAG("slots"):

    @task(pool="one")
    def first() -> None:
        hold("free-slot")

    @task(pool="one")
    def second() -> None:
        hold("free-slot")

    first()
    second()

with DAG("capped", max_active_tasks=1):

    @task
    def left() -> None:
        hold("uncap")

    @task
    def right() -> None:
        hold("uncap")

    left()
    right()

with DAG("flaky"):

    @task(retries=0)
    def bad() -> None:
        raise RuntimeError("bad failed on purpose")

    @task
    def after() -> None:
        pass

    bad() >> after()

with DAG("slow"):

    @task
    def sleeper() -> None:
        hold("never")

    sleeper()
"""
TEAM = "/teams/default"
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", ROOT / ".artifacts")) / "ui"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("ui-waiting")
    (home / "dags").mkdir()
    (home / "dags" / "waiting.py").write_text(DAG_FILE.format(home=str(home)))
    with Standalone(home) as server:
        server.start(timeout=60)
        server.wait_until(lambda: len(server.get("/api/v1/dags")["dags"]) == 4, 30, "DAGs parsed")
        server.request("PUT", "/api/v1/teams/default/pools/one", {"slots": 1})
        yield server


def trigger(server: Standalone, dag: str) -> str:
    return str(server.post(f"/api/v1{TEAM}/dags/{dag}/runs")["run_id"])


def task_path(dag: str, run_id: str, task: str) -> str:
    return f"{TEAM}/dags/{dag}/runs/{quote(run_id, safe='')}/tasks/{task}"


def states(server: Standalone, dag: str, run_id: str) -> dict[str, str]:
    run = server.get(f"/api/v1{TEAM}/dags/{dag}/runs/{quote(run_id, safe='')}")
    return {t["task_id"]: t["state"] for t in run["tasks"]}


def one_running(server: Standalone, dag: str, run_id: str) -> tuple[str, str] | None:
    """(the running task, the pending one) once exactly one runs and the other waits."""
    now = states(server, dag, run_id)
    running = [t for t, s in now.items() if s == "running"]
    pending = [t for t, s in now.items() if s == "pending"]
    return (running[0], pending[0]) if len(running) == len(pending) == 1 else None


def failed_flaky_runs(server: Standalone, count: int) -> list[str]:
    """`count` new runs of `flaky`, each left with `bad` failed and `after` upstream_failed."""
    runs = [trigger(server, "flaky") for _ in range(count)]
    for run_id in runs:
        server.wait_until(
            lambda r=run_id: states(server, "flaky", r)["after"] == "upstream_failed", 60, "failed"
        )
    return runs


def open_bulk_dialog(page: Any, url: str, picks: list[str], button: str) -> Any:
    """The bulk dialog of `button`, opened on `url` after ticking the rows labelled `picks`;
    the button is disabled until something is ticked, the count follows the ticks, and the
    dialog opens with the focus on its Cancel."""
    page.goto(url)
    page.wait_for_function("() => window.htmx !== undefined")
    action = page.get_by_role("button", name=button)
    assert action.is_disabled()
    for label in picks:
        page.get_by_label(label).check()
    page.locator("#bulk-count", has_text=f"{len(picks)} selected").wait_for()
    action.click()
    dialog = page.locator("#action-dialog")
    dialog.wait_for()
    assert page.evaluate("() => document.activeElement.id") == "ad-cancel"
    return dialog


def assert_accessible(page: Any) -> None:
    assert not [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in chromium.axe_violations(page)
    ]


def test_a_task_waiting_for_a_pool_slot_links_the_holder_and_runs_when_it_frees(
    server: Standalone, new_page: Any
) -> None:
    """Story 35: the waiting task's panel and attempt page name the pool and link the attempt
    holding its slot; when that attempt ends, both update without reload and the task runs."""
    run_id = trigger(server, "slots")
    holder, waiter = server.wait_until(lambda: one_running(server, "slots", run_id), 60, "one")
    waiting = f"/api/v1{task_path('slots', run_id, waiter)}/attempts/1"
    server.wait_until(lambda: server.get(waiting)["held_by"], 30, "the holder named")
    holder_href = f"{task_path('slots', run_id, holder)}/attempts/1"

    panel = new_page(bypass_csp=True)
    panel.goto(server.url + task_path("slots", run_id, waiter))
    assert (
        "waiting for a slot in pool one (1 of 1 used)" in panel.locator("#pool-wait").inner_text()
    )
    assert panel.locator("#slot-holders a").get_attribute("href") == holder_href
    assert not [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in chromium.axe_violations(panel)
    ]
    panel.screenshot(path=ARTIFACTS / "test_pool_wait_panel.png")
    attempt = new_page()
    attempt.goto(server.url + task_path("slots", run_id, waiter) + "/attempts/1")
    reasons = attempt.locator("#waiting-reasons").inner_text()
    assert reasons == "waiting for a slot in pool one (1 of 1 used)"
    assert attempt.locator("#slot-holders a").get_attribute("href") == holder_href
    attempt.screenshot(path=ARTIFACTS / "test_pool_wait_attempt.png")
    for shown in (panel, attempt):
        shown.wait_for_function("() => document.body.getAttribute('sse-connect') !== null")
    loads: list[str] = []
    for shown in (panel, attempt):
        shown.on("load", lambda p: loads.append(p.url))

    (server.home / "free-slot").touch()
    panel.locator("#panel h2 .state-success").wait_for(timeout=30_000)
    assert panel.locator("#pool-wait").count() == 0
    attempt.locator("#why", has_text="This try is not waiting: it started").wait_for()
    attempt.locator("#att-head h1 .state-running, #att-head h1 .state-success").wait_for()
    assert loads == []  # neither page reloaded


def test_a_dag_at_its_task_limit_says_so(server: Standalone, page: Any) -> None:
    """A.2.8: a ready task held by its DAG's max_active_tasks says so, worded as waiting."""
    run_id = trigger(server, "capped")
    _, waiter = server.wait_until(lambda: one_running(server, "capped", run_id), 60, "one")
    page.goto(server.url + task_path("capped", run_id, waiter))
    limit = page.locator("#limit-wait")
    page.wait_for_function("() => document.getElementById('limit-wait') !== null")
    assert "DAG capped allows 1 running task at once (max_active_tasks)" in limit.inner_text()
    page.goto(server.url + task_path("capped", run_id, waiter) + "/attempts/1")
    assert "max_active_tasks" in page.locator("#waiting-reasons").inner_text()
    (server.home / "uncap").touch()
    server.wait_until(
        lambda: set(states(server, "capped", run_id).values()) == {"success"}, 60, "both ran"
    )


def test_mark_success_on_a_failed_task_runs_its_upstream_failed_descendants(
    server: Standalone, new_page: Any
) -> None:
    """Story 53: "Mark success…" previews the change and its follow-up; after confirming, the task's
    upstream_failed descendant runs and succeeds, followed live in the grid."""
    run_id = trigger(server, "flaky")
    server.wait_until(lambda: states(server, "flaky", run_id)["after"] == "upstream_failed", 60, "")
    page = new_page(bypass_csp=True)
    page.goto(server.url + task_path("flaky", run_id, "bad"))
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Mark success…").click()
    dialog = page.locator("#action-dialog")
    dialog.wait_for()
    assert page.evaluate("() => document.activeElement.id") == "ad-cancel"
    # The preview shows the follow-up too: the upstream_failed descendant goes back to pending.
    assert page.locator("#ad-confirm").inner_text() == "Mark success 2 task instances"
    rows = dialog.locator("table.preview tbody tr").all_inner_texts()
    assert len(rows) == 2 and "after" in rows[1] and "pending" in rows[1]
    assert_accessible(page)
    page.locator("#ad-confirm").click()
    dialog.wait_for(state="detached")
    bar = page.locator(f'.bar[href*="/runs/{run_id}"]').first
    pk = str(bar.get_attribute("id")).removeprefix("b-")
    page.wait_for_function(
        f"() => document.querySelector('#c-{pk}-after').matches('.s-success')", timeout=30_000
    )
    assert states(server, "flaky", run_id) == {"bad": "success", "after": "success"}


def test_cancel_run_lists_the_running_attempt_and_the_run_ends_cancelled(
    server: Standalone, new_page: Any
) -> None:
    """Story 55: "Cancel run…" names the running attempt it stops; after confirming, the
    attempt stops and the run's header reads cancelled without reload."""
    run_id = trigger(server, "slow")
    server.wait_until(lambda: states(server, "slow", run_id)["sleeper"] == "running", 60, "runs")
    page = new_page(bypass_csp=True)
    page.goto(f"{server.url}{TEAM}/dags/slow/runs/{quote(run_id, safe='')}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Cancel run…").click()
    dialog = page.locator("#action-dialog")
    dialog.wait_for()
    assert dialog.locator("table.preview tbody tr").count() == 1
    assert "sleeper" in dialog.locator("table.preview tbody").inner_text()
    assert page.locator("#ad-confirm").inner_text() == "Cancel run (1 task instance)"
    page.locator("#ad-confirm").click()
    dialog.wait_for(state="detached")
    page.locator("#run-head h2 .state-cancelled").wait_for(timeout=30_000)
    run = server.get(f"/api/v1{TEAM}/dags/slow/runs/{quote(run_id, safe='')}")
    assert run["state"] == "cancelled"
    assert states(server, "slow", run_id)["sleeper"] not in ("running", "queued")


def test_clear_selected_task_instances_of_three_runs(server: Standalone, new_page: Any) -> None:
    """Story 54: from the task-instance search, instances of 3 runs are selected and cleared;
    the preview groups them by run and counts their downstream tasks; after confirming, each
    runs again (its second try)."""
    runs = failed_flaky_runs(server, 3)
    page = new_page(bypass_csp=True)
    picks = [f"Select bad of run {run_id}" for run_id in runs]
    url = server.url + "/task-instances?dag=flaky&task=bad&state=failed"
    dialog = open_bulk_dialog(page, url, picks, "Clear selected…")
    captions = dialog.locator("table.preview caption").all_inner_texts()
    assert sorted(c.split()[1] for c in captions) == sorted(runs)
    assert page.locator("#ad-confirm").inner_text() == "Clear 6 task instances"
    page.get_by_label("Downstream tasks").uncheck()
    page.wait_for_function("() => document.getElementById('ad-count').textContent === '3'")
    page.get_by_label("Downstream tasks").check()
    page.wait_for_function("() => document.getElementById('ad-count').textContent === '6'")
    assert_accessible(page)
    page.screenshot(path=ARTIFACTS / "test_bulk_clear_dialog.png")
    page.locator("#ad-confirm").click()
    dialog.wait_for(state="detached")
    assert "Cleared 6 task instances in 3 runs" in page.locator("#toasts").inner_text()
    # The list is read again: nothing stays ticked, and no row still shows a cleared try failed.
    page.wait_for_function("() => document.querySelectorAll('.ti-pick:checked').length === 0")
    for row in page.locator("#ti-results tbody tr").all_inner_texts():
        cells = [c.strip() for c in row.split("\t")]
        if any(run_id in cells for run_id in runs):
            assert not ("failed" in cells[1] and cells[5] == "1"), cells
    for run_id in runs:
        task = f"/api/v1{task_path('flaky', run_id, 'bad')}"
        server.wait_until(lambda t=task: server.get(t)["try_number"] == 2, 60, "tried again")


def test_mark_success_of_selected_failed_tasks_in_two_runs(
    server: Standalone, new_page: Any
) -> None:
    """Bulk "Mark success…" from the task-instance search: the preview lists each run's
    failed task and its upstream_failed descendant going back to pending; after confirming,
    the toast counts them and each descendant runs and succeeds."""
    runs = failed_flaky_runs(server, 2)
    page = new_page(bypass_csp=True)
    picks = [f"Select bad of run {run_id}" for run_id in runs]
    url = server.url + "/task-instances?dag=flaky&task=bad&state=failed"
    dialog = open_bulk_dialog(page, url, picks, "Mark success…")
    assert dialog.locator("#ad-title").inner_text() == "Mark success task instances"
    captions = dialog.locator("table.preview caption").all_inner_texts()
    assert sorted(c.split()[1] for c in captions) == sorted(runs)
    rows = [r.split("\t") for r in dialog.locator("table.preview tbody tr").all_inner_texts()]
    assert [r[0].strip() for r in rows] == ["bad", "after"] * 2
    assert all("pending" in r[2] for r in rows[1::2]) and all("success" in r[2] for r in rows[::2])
    assert page.locator("#ad-confirm").inner_text() == "Mark success 4 task instances"
    assert_accessible(page)
    page.screenshot(path=ARTIFACTS / "test_bulk_mark_dialog.png")
    page.locator("#ad-confirm").click()
    dialog.wait_for(state="detached")
    assert "Marked success 4 task instances in 2 runs" in page.locator("#toasts").inner_text()
    page.wait_for_function("() => document.querySelectorAll('.ti-pick:checked').length === 0")
    for run_id in runs:
        server.wait_until(
            lambda r=run_id: states(server, "flaky", r) == {"bad": "success", "after": "success"},
            60,
            "the descendant ran",
        )


def test_cancel_the_runs_of_selected_task_instances(server: Standalone, new_page: Any) -> None:
    """Bulk "Cancel runs…": the runs of the ticked instances are cancelled as a whole; the
    preview names the running attempts it stops and says a finished run is left alone."""
    running = [trigger(server, "slow") for _ in range(2)]
    finished = trigger(server, "slow")
    server.post(f"/api/v1{TEAM}/dags/slow/runs/{quote(finished, safe='')}/cancel")
    for run_id in running:
        server.wait_until(
            lambda r=run_id: states(server, "slow", r)["sleeper"] == "running", 60, "runs"
        )
    page = new_page(bypass_csp=True)
    picks = [f"Select sleeper of run {run_id}" for run_id in [*running, finished]]
    dialog = open_bulk_dialog(page, server.url + "/task-instances?dag=slow", picks, "Cancel runs…")
    assert dialog.locator("#ad-title").inner_text() == "Cancel runs"
    captions = dialog.locator("table.preview caption").all_inner_texts()
    assert sorted(c.split()[1] for c in captions) == sorted(running)
    assert f"Run {finished} of default/slow is already" in dialog.inner_text()
    assert (
        "2 task instances in 2 runs will change; 2 running or queued attempts will be stopped"
        in dialog.inner_text()
    )
    assert page.locator("#ad-confirm").inner_text() == "Cancel 2 runs (2 task instances)"
    assert_accessible(page)
    page.screenshot(path=ARTIFACTS / "test_bulk_cancel_dialog.png")
    page.locator("#ad-confirm").click()
    dialog.wait_for(state="detached")
    assert "Cancelled 2 runs (2 task instances)" in page.locator("#toasts").inner_text()
    for run_id in running:
        run = server.get(f"/api/v1{TEAM}/dags/slow/runs/{quote(run_id, safe='')}")
        assert run["state"] == "cancelled"
        server.wait_until(
            lambda r=run_id: states(server, "slow", r)["sleeper"] == "cancelled", 30, "stopped"
        )
    page.wait_for_function("() => document.querySelectorAll('.ti-pick:checked').length === 0")
    page.screenshot(path=ARTIFACTS / "test_bulk_cancel_done.png")


def test_clear_selected_runs_from_the_runs_list(server: Standalone, new_page: Any) -> None:
    """UI.md A.2.9 "Bulk actions" on `/runs`: two failed runs are ticked (one with `x`, one by
    its box) and cleared through the same preview dialog: it acts on every task instance of
    both runs, grouped by run; after confirming, each runs its failed task again."""
    runs = failed_flaky_runs(server, 2)
    page = new_page(bypass_csp=True)
    page.goto(server.url + "/runs?dag=flaky&state=failed")
    page.wait_for_function("() => window.htmx !== undefined")
    button = page.get_by_role("button", name="Clear selected…")
    assert button.is_disabled()
    page.get_by_label(f"Select run {runs[0]} of flaky").check()
    page.get_by_label(f"Select run {runs[1]} of flaky").focus()
    page.keyboard.press("x")
    page.locator("#bulk-count", has_text="2 selected").wait_for()
    button.click()
    dialog = page.locator("#action-dialog")
    dialog.wait_for()
    assert page.evaluate("() => document.activeElement.id") == "ad-cancel"
    assert "2 runs selected: their 4 task instances" in dialog.inner_text()
    captions = dialog.locator("table.preview caption").all_inner_texts()
    assert sorted(c.split()[1] for c in captions) == sorted(runs)
    assert page.locator("#ad-confirm").inner_text() == "Clear 4 task instances"
    assert_accessible(page)
    page.screenshot(path=ARTIFACTS / "test_bulk_clear_runs_dialog.png")
    page.locator("#ad-confirm").click()
    dialog.wait_for(state="detached")
    assert "Cleared 4 task instances in 2 runs" in page.locator("#toasts").inner_text()
    page.wait_for_function("() => document.querySelectorAll('.run-pick:checked').length === 0")
    for run_id in runs:
        task = f"/api/v1{task_path('flaky', run_id, 'bad')}"
        server.wait_until(lambda t=task: server.get(t)["try_number"] == 2, 60, "tried again")
    page.screenshot(path=ARTIFACTS / "test_bulk_clear_runs_done.png")


def test_a_runs_list_row_follows_its_run_and_keeps_its_tick(
    server: Standalone, new_page: Any
) -> None:
    """UI.md A.2.9 Refresh: a row of an unfinished run follows its run: cancelled through the
    API while the list is open, the row reads cancelled without reload, its box stays ticked
    (a selection survives the row's swap), and the finished row stops refreshing."""
    run_id = trigger(server, "slow")
    server.wait_until(lambda: states(server, "slow", run_id)["sleeper"] == "running", 60, "runs")
    page = new_page()
    page.goto(server.url + "/runs?dag=slow")
    page.wait_for_function(
        "() => document.getElementById('live-indicator').dataset.state === 'live'"
    )
    row = page.locator("#run-results tbody tr", has_text=run_id)
    assert row.locator(".state-running").count() == 1
    assert row.get_attribute("hx-get")  # an unfinished run's row follows it
    row.locator(".run-pick").check()
    page.locator("#bulk-count", has_text="1 selected").wait_for()
    server.post(f"/api/v1{TEAM}/dags/slow/runs/{quote(run_id, safe='')}/cancel")
    row.locator(".state-cancelled").wait_for(timeout=15_000)
    assert row.locator(".run-pick").is_checked()
    assert page.locator("#bulk-count").inner_text() == "1 selected"
    assert row.get_attribute("hx-get") is None  # finished: no trigger left
    page.screenshot(path=ARTIFACTS / "test_runs_row_follows_its_run.png")
