"""Clearing on the latest commit through the REST API (story 52's API half): the dry run names
the DAG's latest commit, `commit: "latest"` re-pins the run so the cleared task's next try
records that commit, and a latest commit without the run's tasks is refused, nothing changed."""

from __future__ import annotations

import pytest

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.testing.fakes import Fail, Succeed
from system.inprocess import ApiFailed, InProcess

A, B, C = "a" * 40, "b" * 40, "c" * 40


def publish(brisa: InProcess, commit: str, command: str, extra: bool = False) -> None:
    with DAG("chain") as dag:
        first = shell("first", "true")
        first >> shell("second", command)
        if extra:
            first >> shell("third", "true")
    spec = serialize(dag, fileloc="chain.py")
    brisa.store.publish_dag(
        "default", spec, fileloc="chain.py", code_version=commit, now=brisa.clock()
    )


def test_a_clear_on_the_latest_commit_repins_the_run(brisa: InProcess) -> None:
    publish(brisa, A, "false")
    brisa.executor.script("second", Fail("broken on A"), Succeed("fine on B"))
    brisa.trigger("chain")
    brisa.settle()
    run = brisa.run_path("chain", "r1")
    assert brisa.run("chain")["code_version"] == A
    publish(brisa, B, "true")

    dry = brisa.request("POST", f"{run}/clear?dry_run=true", {"task_ids": ["second"]})
    assert (dry["latest_commit"], dry["latest_unavailable"]) == (B, None)
    assert dry["run"]["code_version"] == A
    done = brisa.request("POST", f"{run}/clear", {"task_ids": ["second"], "commit": "latest"})
    assert done["cleared"] == ["second"] and done["run"]["code_version"] == B
    brisa.settle()
    assert brisa.states("chain")["second"] == ("success", 2)
    tries = brisa.request("GET", f"{run}/tasks/second/attempts")["attempts"]
    assert [t["code_version"] for t in tries] == [A, B]
    first = brisa.request("GET", f"{run}/tasks/first/attempts")["attempts"]
    assert [t["code_version"] for t in first] == [A]


def test_a_latest_commit_with_other_tasks_is_refused(brisa: InProcess) -> None:
    publish(brisa, A, "false")
    brisa.executor.script("second", Fail("broken on A"))
    brisa.trigger("chain")
    brisa.settle()
    publish(brisa, C, "true", extra=True)
    run = brisa.run_path("chain", "r1")
    dry = brisa.request("POST", f"{run}/clear?dry_run=true", {"task_ids": ["second"]})
    assert dry["latest_commit"] == C and "adds third" in dry["latest_unavailable"]
    with pytest.raises(ApiFailed) as refused:
        brisa.request("POST", f"{run}/clear", {"task_ids": ["second"], "commit": "latest"})
    assert refused.value.status == 400 and "adds third" in str(refused.value)
    assert brisa.states("chain")["second"] == ("failed", 1)
    assert brisa.run("chain")["code_version"] == A
    # the run's own commit still works
    brisa.request("POST", f"{run}/clear", {"task_ids": ["second"], "commit": "run"})
    assert brisa.run("chain")["code_version"] == A
