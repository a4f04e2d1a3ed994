"""Clearing, marking and cancelling the runs of task instances of several runs at once (UI.md
A.2.9, story 54): POST /api/v1/task-instances/clear, /mark and /cancel, a dry run grouped by
run, the acknowledgement an action over more than 10 runs needs, one audit entry per run, and
bad selections refused with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from brisa import DAG, shell
from brisa.control import bulk
from brisa.control.queries import Scope
from brisa.errors import NotFound
from brisa.testing.fakes import Fail, Hang
from system.inprocess import EXIT_GRACE, ApiFailed, InProcess

CLEAR = "/api/v1/task-instances/clear"
MARK = "/api/v1/task-instances/mark"
CANCEL = "/api/v1/task-instances/cancel"


def failed_runs(brisa: InProcess, count: int) -> list[str]:
    with DAG("d", retries=0) as dag:
        shell("a", "true") >> shell("b", "true")
    brisa.publish(dag)
    for _ in range(count):
        brisa.executor.script("a", Fail())
    names = [f"r{n}" for n in range(count)]
    for name in names:
        brisa.trigger("d", name)
    brisa.settle()
    return names


def named(runs: list[str]) -> list[dict[str, str]]:
    return [{"team": "default", "dag_id": "d", "run_id": r, "task_id": "a"} for r in runs]


def test_a_dry_run_groups_the_changes_by_run_and_changes_nothing(brisa: InProcess) -> None:
    runs = failed_runs(brisa, 3)
    body = {"instances": named(runs), "downstream": True}
    preview = brisa.request("POST", CLEAR + "?dry_run=true", body)
    assert preview["dry_run"] is True and preview["count"] == 6
    assert [r["run_id"] for r in preview["runs"]] == runs
    assert [c["task_id"] for c in preview["runs"][0]["changes"]] == ["a", "b"]
    assert brisa.states("d", "r0") == {"a": ("failed", 1), "b": ("upstream_failed", 0)}

    done = brisa.request("POST", CLEAR, body)
    assert done["dry_run"] is False and done["count"] == 6
    brisa.settle()
    assert all(brisa.states("d", r) == {"a": ("success", 2), "b": ("success", 1)} for r in runs)


def test_more_than_ten_runs_need_an_acknowledgement(brisa: InProcess) -> None:
    runs = failed_runs(brisa, 11)
    body = {"instances": named(runs)}
    preview = brisa.request("POST", CLEAR + "?dry_run=true", body)
    assert preview["needs_acknowledge"] is True and preview["count"] == 11
    try:
        brisa.request("POST", CLEAR, body)
        raise AssertionError("cleared without an acknowledgement")
    except ApiFailed as refused:
        assert refused.status == 400
        assert "acknowledge" in str(refused.detail)
    assert brisa.states("d", "r0")["a"] == ("failed", 1)
    done = brisa.request("POST", CLEAR, {**body, "acknowledge": True})
    assert done["count"] == 11


def test_unknown_instances_and_empty_selections_are_refused(brisa: InProcess) -> None:
    failed_runs(brisa, 1)
    for body, status in (
        ({"instances": []}, 400),
        ({"instances": named(["nope"])}, 404),
        ({"instances": [{**named(["r0"])[0], "task_id": "zz"}]}, 400),
    ):
        try:
            brisa.request("POST", CLEAR, body)
            raise AssertionError(f"accepted {body}")
        except ApiFailed as refused:
            assert refused.status == status, (body, refused.status, refused.detail)


def test_the_dialog_answers_bad_selections_inline(brisa: InProcess) -> None:
    """The page's bulk dialog: a malformed or empty selection is a 400 message, not a trace."""
    failed_runs(brisa, 1)
    for query in ("", "?ti=nope", '?ti=["default","d"]', '?ti=["default","d","zz","a"]'):
        answer = brisa.api.get("/_/task-instances/actions/clear" + query)
        assert answer.status_code in (400, 404), (query, answer.status_code)
        assert 'class="inline-error"' in answer.text and "Traceback" not in answer.text
    good = brisa.api.get('/_/task-instances/actions/clear?ti=["default","d","r0","a"]')
    assert good.status_code == 200 and "Clear 2 task instances" in good.text


def test_runs_ticked_on_the_runs_list_open_the_dialog_on_all_their_tasks(
    brisa: InProcess,
) -> None:
    """UI.md A.2.9: the runs list's bulk actions act on every task instance of the ticked runs,
    through the same dialog and functions; a malformed or unknown run is an inline message."""
    failed_runs(brisa, 2)
    runs = '&run=["default","d","r0"]&run=["default","d","r1"]'
    answer = brisa.api.get("/_/task-instances/actions/mark?state=success" + runs)
    assert answer.status_code == 200
    assert "2 runs selected: their 4 task instances in 2 runs" in answer.text
    assert answer.text.count('name="ti"') == 4  # from here on the dialog carries instances
    assert ">Mark success 4 task instances</button>" in answer.text
    for query in ('?run=["default","d"]', '?run=["default","d","nope"]', '?run=["x","d","r0"]'):
        bad = brisa.api.get("/_/task-instances/actions/clear" + query)
        assert bad.status_code in (400, 404), (query, bad.status_code)
        assert 'class="inline-error"' in bad.text and "Traceback" not in bad.text
    assert brisa.states("d", "r0") == {"a": ("failed", 1), "b": ("upstream_failed", 0)}


def refused(brisa: InProcess, path: str, body: Any) -> ApiFailed:
    with pytest.raises(ApiFailed) as caught:
        brisa.request("POST", path, body)
    return caught.value


def audited(brisa: InProcess) -> list[tuple[str, str, str]]:
    entries = brisa.request("GET", "/api/v1/audit")["entries"]
    return [(e["action"], e["target"], e["outcome"]) for e in reversed(entries)]


def test_mark_success_of_failed_tasks_runs_their_upstream_failed_descendants(
    brisa: InProcess,
) -> None:
    runs = failed_runs(brisa, 3)
    body = {"instances": named(runs), "state": "success"}
    preview = brisa.request("POST", MARK + "?dry_run=true", body)
    assert (preview["action"], preview["dry_run"], preview["count"]) == ("mark_success", True, 6)
    assert [(c["task_id"], c["new_state"]) for c in preview["runs"][0]["changes"]] == [
        ("a", "success"),
        ("b", "pending"),
    ]
    assert brisa.states("d", "r0") == {"a": ("failed", 1), "b": ("upstream_failed", 0)}

    done = brisa.request("POST", MARK, body)
    assert (done["dry_run"], done["count"]) == (False, 6)
    brisa.settle()
    for run in runs:
        assert brisa.states("d", run) == {"a": ("success", 1), "b": ("success", 1)}
        assert brisa.run("d", run)["state"] == "success"
    # One entry per run, as the mark of one run writes; the dry run wrote none.
    assert audited(brisa)[-3:] == [("mark_success", f"default/d/{r}", "ok") for r in runs]


def test_mark_failed_of_running_tasks_ends_their_attempts(brisa: InProcess) -> None:
    with DAG("d", retries=0) as dag:
        shell("a", "true") >> shell("b", "true")
    brisa.publish(dag)
    brisa.executor.script("a", Hang(), Hang())
    for run in ("r0", "r1"):
        brisa.trigger("d", run)
    brisa.settle()
    assert len(brisa.executor.alive()) == 2

    done = brisa.request("POST", MARK, {"instances": named(["r0", "r1"]), "state": "failed"})
    assert [[c["state"] for c in r["changes"]] for r in done["runs"]] == [["running"]] * 2
    brisa.advance(EXIT_GRACE + 1)
    assert brisa.executor.alive() == frozenset()
    for run in ("r0", "r1"):
        assert brisa.states("d", run) == {"a": ("failed", 1), "b": ("upstream_failed", 0)}
        path = f"{brisa.run_path('d', run)}/tasks/a/attempts/1"
        assert brisa.request("GET", path)["state"] == "failed"


def test_cancel_stops_the_runs_and_leaves_finished_ones_alone(brisa: InProcess) -> None:
    with DAG("d", retries=0) as dag:
        shell("a", "true") >> shell("b", "true")
    brisa.publish(dag)
    brisa.executor.script("a", Fail(), Hang(), Hang())
    for run in ("done", "r0", "r1"):
        brisa.trigger("d", run)
        brisa.settle()
    assert brisa.run("d", "done")["state"] == "failed"
    body = {"instances": named(["done", "r0", "r1"])}

    preview = brisa.request("POST", CANCEL + "?dry_run=true", body)
    assert preview["count"] == 4  # a (running) and b (pending) of r0 and r1
    assert [(r["run_id"], r["state"], len(r["changes"])) for r in preview["runs"]] == [
        ("done", "failed", 0),
        ("r0", "running", 2),
        ("r1", "running", 2),
    ]
    done = brisa.request("POST", CANCEL, body)
    assert [(r["run_id"], r["state"]) for r in done["runs"]] == [
        ("done", "failed"),
        ("r0", "cancelled"),
        ("r1", "cancelled"),
    ]
    brisa.settle()
    assert brisa.executor.alive() == frozenset()
    assert brisa.states("d", "r0") == {"a": ("cancelled", 1), "b": ("cancelled", 0)}
    assert brisa.states("d", "done") == {"a": ("failed", 1), "b": ("upstream_failed", 0)}
    assert audited(brisa)[-2:] == [("cancel_run", f"default/d/{r}", "ok") for r in ("r0", "r1")]
    # Nothing left to cancel: refused, and nothing written.
    again = refused(brisa, CANCEL, body)
    assert again.status == 409 and "nothing to cancel" in str(again.detail)
    assert len(audited(brisa)) == 5  # trigger x3, cancel_run x2


def test_mark_and_cancel_over_ten_runs_need_an_acknowledgement(brisa: InProcess) -> None:
    runs = failed_runs(brisa, 11)
    for path, extra in ((MARK, {"state": "failed"}), (CANCEL, {})):
        body = {"instances": named(runs), **extra}
        assert brisa.request("POST", path + "?dry_run=true", body)["needs_acknowledge"] is True
    answer = refused(brisa, MARK, {"instances": named(runs), "state": "success"})
    assert answer.status == 400 and "acknowledge" in str(answer.detail)
    assert brisa.states("d", "r0")["a"] == ("failed", 1)
    body = {"instances": named(runs), "state": "success", "acknowledge": True}
    assert brisa.request("POST", MARK, body)["count"] == 22


def test_bad_selections_are_refused_and_change_nothing(brisa: InProcess) -> None:
    runs = failed_runs(brisa, 2)
    good = named(runs)
    for path, body, status, words in (
        (MARK, {"instances": [], "state": "success"}, 400, ""),
        (MARK, {"instances": good, "state": "running"}, 400, "success or failed"),
        (MARK, {"instances": [*good, *named(["nope"])], "state": "success"}, 404, "no run 'nope'"),
        (MARK, {"instances": [*good, {**good[0], "task_id": "zz"}], "state": "success"}, 400,
         "no task(s) zz"),
        (MARK, {"instances": good, "state": "failed"}, 409, "already failed"),
        (CANCEL, {"instances": []}, 400, ""),
        (CANCEL, {"instances": [*good, *named(["nope"])]}, 404, "no run 'nope'"),
        (CANCEL, {"instances": [{**good[0], "task_id": "zz"}]}, 400, "no task(s) zz"),
    ):  # fmt: skip
        answer = refused(brisa, path, body)
        assert (answer.status, words in str(answer.detail)) == (status, True), (body, answer)
    assert all(brisa.states("d", r)["a"] == ("failed", 1) for r in runs)
    # Another team's task instances read as missing, before anything is asked of the store.
    commands = brisa.app.state.ctx.commands
    picked = [bulk.Instance("default", "d", r, "a") for r in runs]
    with pytest.raises(NotFound, match="no run 'r0'"):
        bulk.mark(commands, Scope(frozenset({"other"})), picked, "success", dry_run=False)
    with pytest.raises(NotFound, match="no run 'r0'"):
        bulk.cancel(commands, Scope(frozenset({"other"})), picked, dry_run=False)
    assert all(brisa.states("d", r)["a"] == ("failed", 1) for r in runs)
    assert [a for a, _, _ in audited(brisa)] == ["trigger", "trigger"]


def test_the_mark_and_cancel_dialogs_preview_and_refuse_inline(brisa: InProcess) -> None:
    failed_runs(brisa, 1)
    ti = '&ti=["default","d","r0","a"]'
    success = brisa.api.get("/_/task-instances/actions/mark?state=success" + ti)
    assert success.status_code == 200 and "Mark success 2 task instances" in success.text
    cancel = brisa.api.get("/_/task-instances/actions/cancel?" + ti)
    assert cancel.status_code == 200 and "is already" in cancel.text and "disabled" in cancel.text
    for url, status in (
        ("/_/task-instances/actions/mark?state=running" + ti, 400),
        ("/_/task-instances/actions/mark?state=failed", 400),
        ("/_/task-instances/actions/explode?" + ti, 404),
    ):
        answer = brisa.api.get(url)
        assert answer.status_code == status, (url, answer.status_code)
        assert 'class="inline-error"' in answer.text and "Traceback" not in answer.text
