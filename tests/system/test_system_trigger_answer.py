"""A trigger is answered with the run as it was created (queued, every task pending), even when
the scheduler its commit wakes has already started or finished the run by the time the
answer is written (the e2e edge test saw `running` once the scheduler got faster)."""

from __future__ import annotations

from brisa import DAG, shell
from system.inprocess import InProcess


def test_a_new_run_is_answered_as_created_whatever_the_woken_scheduler_did(
    brisa: InProcess,
) -> None:
    with DAG("quick") as dag:
        shell("t", "true")
    brisa.publish(dag)
    commands = brisa.app.state.ctx.commands
    woken = commands._wake

    def wake_and_run() -> None:  # the scheduler runs the whole run before the answer
        woken()
        brisa.settle()

    commands._wake = wake_and_run
    answer = brisa.request("POST", f"{brisa.dag_path('quick')}/runs", {"note": "first"})
    assert answer["state"] == "queued"
    assert [t["state"] for t in answer["tasks"]] == ["pending"]
    assert answer["note"] == "first"
    assert brisa.run("quick", answer["run_id"])["state"] == "success"  # it did run meanwhile
