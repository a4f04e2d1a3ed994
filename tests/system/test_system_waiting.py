"""A queued try the executor reports on (a pod the cluster has not placed: UI.md A.2.8, story
36): the REST attempt, the task panel and the attempt page say it waits, with the executor's
words and for how long, never as a failure."""

from __future__ import annotations

from brisa import DAG, shell
from brisa.core.records import AttemptRef
from brisa.testing.fakes import NeverStart
from system.inprocess import InProcess

NOTE = "waiting: Unschedulable: 0/3 nodes are available: 3 Insufficient memory."


def test_a_queued_try_shows_the_executors_waiting_note(brisa: InProcess) -> None:
    with DAG("d") as dag:
        shell("t", "true")
    brisa.publish(dag)
    brisa.executor.script("t", NeverStart())
    brisa.trigger("d")
    brisa.settle()
    task = brisa.task("d", "t")
    assert task["state"] == "queued"
    ref = next(
        AttemptRef(t.id, t.try_number)
        for r in brisa.store.active_runs("default")
        for t in r.tasks.values()
        if t.task_id == "t"
    )
    assert brisa.store.note_waiting(ref, NOTE)
    path = f"{brisa.run_path('d', 'r1')}/tasks/t"
    attempt = brisa.request("GET", f"{path}/attempts/1")
    assert attempt["waiting"][0].startswith("queued for ")
    assert attempt["waiting"][0].endswith(
        "not started yet: the executor reports Unschedulable: 0/3 nodes are available:"
        " 3 Insufficient memory."
    )
    page = brisa.api.get("/teams/default/dags/d/runs/r1/tasks/t/attempts/1").text
    assert "<dt>Outcome</dt>" not in page  # waiting, not failed
    assert "the executor reports Unschedulable" in page
    panel = brisa.api.get("/teams/default/dags/d/runs/r1/tasks/t").text
    assert "The executor reports: Unschedulable: 0/3 nodes" in panel
    assert 'class="error-text"' not in panel
