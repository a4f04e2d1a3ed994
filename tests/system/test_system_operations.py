"""What people do to runs, through the API, with the scheduler and workers in one process:
clear, cancel, mark. A hanging fake worker stands for a task that is still running."""

from __future__ import annotations

import pytest

from brisa import DAG, shell
from brisa.errors import Conflict
from brisa.testing.fakes import Fail, Hang, Succeed
from system.inprocess import EXIT_GRACE, InProcess


def diamond() -> DAG:
    """a >> (b, d); b >> c"""
    with DAG("diamond") as dag:
        a, b, c, d = (shell(t, "true") for t in "abcd")
        a >> b >> c
        a >> d
    return dag


def test_clearing_a_task_with_downstream_runs_those_again(brisa: InProcess) -> None:
    brisa.publish(diamond())
    brisa.executor.script("b", Succeed("first"), Succeed("second"))
    brisa.trigger("diamond")
    brisa.settle()
    assert brisa.run("diamond")["state"] == "success"

    answer = brisa.request(
        "POST", f"{brisa.run_path('diamond', 'r1')}/clear", {"task_ids": ["b"], "downstream": True}
    )
    assert sorted(answer["cleared"]) == ["b", "c"]
    assert answer["run"]["state"] == "running"
    brisa.settle()

    assert brisa.run("diamond")["state"] == "success"
    assert brisa.states("diamond") == {
        "a": ("success", 1),
        "b": ("success", 2),
        "c": ("success", 2),
        "d": ("success", 1),
    }
    assert brisa.task("diamond", "b")["return_value"] == "second"


def test_clearing_a_running_task_stops_its_worker_and_runs_a_new_try(brisa: InProcess) -> None:
    brisa.publish(diamond())
    brisa.executor.script("a", Hang())
    brisa.trigger("diamond")
    brisa.settle()
    first = brisa.executor.find("a")

    brisa.request("POST", f"{brisa.run_path('diamond', 'r1')}/clear", {"task_ids": ["a"]})
    brisa.settle()

    assert first in brisa.executor.kills
    assert brisa.run("diamond")["state"] == "success"
    a = brisa.task("diamond", "a")
    assert a["try_number"] == 2
    assert [t["state"] for t in a["attempts"]] == ["cancelled", "success"]


def test_cancelling_a_run_stops_its_workers_and_its_late_reports_are_refused(
    brisa: InProcess,
) -> None:
    brisa.publish(diamond())
    brisa.executor.script("a", Hang())
    brisa.trigger("diamond")
    brisa.settle()
    worker = brisa.executor.find("a")

    answer = brisa.request("POST", f"{brisa.run_path('diamond', 'r1')}/cancel")
    assert answer["state"] == "cancelled"
    brisa.settle()

    assert worker in brisa.executor.kills
    assert brisa.executor.alive() == frozenset()
    assert brisa.run("diamond")["state"] == "cancelled"
    assert {state for state, _ in brisa.states("diamond").values()} == {"cancelled"}
    # A worker that reports after all (it had not died yet) is told so, and changes nothing.
    with pytest.raises(Conflict):
        brisa.execution.finish(worker, success=True, return_value="too late")
    brisa.settle()
    assert brisa.run("diamond")["state"] == "cancelled"
    assert brisa.task("diamond", "a")["return_value"] is None


def test_marking_a_running_task_success_runs_downstream_and_stops_the_worker(
    brisa: InProcess,
) -> None:
    brisa.publish(diamond())
    brisa.executor.script("b", Hang())
    brisa.trigger("diamond")
    brisa.settle()
    worker = brisa.executor.find("b")
    assert brisa.states("diamond")["c"] == ("pending", 0)

    answer = brisa.request(
        "POST", f"{brisa.run_path('diamond', 'r1')}/mark", {"task_ids": ["b"], "state": "success"}
    )
    assert answer["changed"] == ["b"]
    brisa.settle()

    assert brisa.run("diamond")["state"] == "success"
    assert brisa.states("diamond")["c"] == ("success", 1)
    # Its worker is given the exit grace to end on its own, then stopped.
    assert worker not in brisa.executor.kills
    brisa.advance(EXIT_GRACE + 1)
    assert worker in brisa.executor.kills
    assert brisa.executor.alive() == frozenset()


def test_marking_a_finished_task_failed_fails_the_run(brisa: InProcess) -> None:
    brisa.publish(diamond())
    brisa.trigger("diamond")
    brisa.settle()
    assert brisa.run("diamond")["state"] == "success"

    brisa.request(
        "POST", f"{brisa.run_path('diamond', 'r1')}/mark", {"task_ids": ["d"], "state": "failed"}
    )
    brisa.settle()

    assert brisa.run("diamond")["state"] == "failed"
    assert brisa.states("diamond")["d"] == ("failed", 1)


def test_dry_runs_of_clear_and_mark_answer_the_changes_and_change_nothing(
    brisa: InProcess,
) -> None:
    brisa.publish(diamond())
    brisa.executor.script("b", Succeed("first"))
    brisa.trigger("diamond")
    brisa.settle()
    before = brisa.states("diamond")

    path = brisa.run_path("diamond", "r1")
    body = {"task_ids": ["b"], "downstream": True, "include_succeeded": False}
    answer = brisa.request("POST", f"{path}/clear?dry_run=true", body)
    assert answer["dry_run"] is True  # b is named; c succeeded and is left alone
    assert [c["task_id"] for c in answer["changes"]] == ["b"]
    answer = brisa.request(
        "POST", f"{path}/clear?dry_run=true", {**body, "include_succeeded": True}
    )
    assert [(c["task_id"], c["state"], c["new_state"]) for c in answer["changes"]] == [
        ("b", "success", "pending"),
        ("c", "success", "pending"),
    ]
    marked = brisa.request(
        "POST", f"{path}/mark?dry_run=true", {"task_ids": ["a", "d"], "state": "failed"}
    )
    assert [c["task_id"] for c in marked["changes"]] == ["a", "d"]
    assert brisa.states("diamond") == before
    assert brisa.run("diamond")["state"] == "success"


def test_marking_a_failed_task_success_runs_its_upstream_failed_descendants(
    brisa: InProcess,
) -> None:
    """UI.md B.2 story 53."""
    brisa.publish(diamond())
    brisa.executor.script("b", Fail("boom"))
    brisa.trigger("diamond")
    brisa.settle()
    assert brisa.states("diamond")["c"][0] == "upstream_failed"

    brisa.request(
        "POST", f"{brisa.run_path('diamond', 'r1')}/mark", {"task_ids": ["b"], "state": "success"}
    )
    brisa.settle()
    assert brisa.states("diamond")["c"] == ("success", 1)
    assert brisa.run("diamond")["state"] == "success"


def test_each_move_of_a_task_names_who_made_it(brisa: InProcess) -> None:
    """The transition record: the scheduler queues, the worker starts and ends its attempt,
    a person cancels (through the API)."""
    brisa.publish(diamond())
    brisa.executor.script("a", Succeed("done"))
    brisa.executor.script("b", Hang())
    brisa.trigger("diamond")
    brisa.settle()
    brisa.request("POST", f"{brisa.run_path('diamond', 'r1')}/cancel")
    tasks = brisa.store.get_run("default", "diamond", "r1").tasks
    history = {
        tid: [(t.from_state, t.to_state, t.actor) for t in brisa.store.task_history(ti.id)]
        for tid, ti in tasks.items()
    }
    keeper = brisa.scheduler.keeper
    assert keeper is not None
    assert history["a"] == [
        ("pending", "queued", keeper.identity.lease),  # "scheduler:<host>/<pid>/<start>"
        ("queued", "running", "worker"),
        ("running", "success", "worker"),
    ]
    assert history["b"][-1] == ("running", "cancelled", "api")
    assert history["c"] == [("pending", "cancelled", "api")]
