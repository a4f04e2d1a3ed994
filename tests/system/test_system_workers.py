"""Workers that go wrong, with the whole system in one process: a worker that dies, one that
stops sending heartbeats, one that runs too long, one that never starts, and a scheduler that
restarts while workers run. Time moves only when the test advances the fake clock."""

from __future__ import annotations

from datetime import timedelta

from brisa import DAG, shell
from brisa.testing.fakes import EPOCH, CrashAtStart, Hang, NeverStart, Succeed
from system.inprocess import HEARTBEAT_TIMEOUT, QUEUED_TIMEOUT, RELAUNCH_AFTER, InProcess


def one_task(dag_id: str, **options: object) -> DAG:
    with DAG(dag_id) as dag:
        shell("work", "true", **options)
    return dag


def test_a_worker_that_dies_is_noticed_at_the_next_pass_and_its_task_retried(
    brisa: InProcess,
) -> None:
    brisa.publish(one_task("lost", retries=1, retry_delay=timedelta(0)))
    brisa.executor.script("work", Hang(), Succeed("second try"))
    brisa.trigger("lost")
    brisa.settle()
    assert brisa.states("lost") == {"work": ("running", 1)}

    brisa.executor.die("work")
    brisa.advance(1)  # one pass later, long before any heartbeat timeout

    work = brisa.task("lost", "work")
    assert (work["state"], work["try_number"]) == ("success", 2)
    assert work["return_value"] == "second try"
    first = work["attempts"][0]
    assert first["state"] == "up_for_retry"
    assert first["error"] == "worker lost: its process ended without reporting a result"
    assert brisa.run("lost")["state"] == "success"


def test_a_worker_without_heartbeats_is_declared_lost_after_the_timeout(brisa: InProcess) -> None:
    brisa.publish(one_task("silent"))
    brisa.executor.script("work", Hang())
    brisa.trigger("silent")
    brisa.settle()

    for _ in range(4):  # heartbeats keep it running well past the timeout
        brisa.advance(HEARTBEAT_TIMEOUT / 2)
        brisa.executor.heartbeat()
    assert brisa.states("silent") == {"work": ("running", 1)}

    brisa.advance(HEARTBEAT_TIMEOUT)  # silent for exactly the timeout: still within it
    assert brisa.states("silent") == {"work": ("running", 1)}
    brisa.advance(1)

    assert brisa.run("silent")["state"] == "failed"
    work = brisa.task("silent", "work")
    assert work["error"] == f"worker lost: no heartbeat for {HEARTBEAT_TIMEOUT:g}s"
    assert brisa.executor.alive() == frozenset()  # its worker was stopped


def test_a_scheduler_paused_longer_than_the_heartbeat_timeout_kills_no_worker_as_it_resumes(
    brisa: InProcess,
) -> None:
    brisa.publish(one_task("frozen"))
    brisa.executor.script("work", Hang())
    brisa.trigger("frozen")
    brisa.settle()
    brisa.advance(HEARTBEAT_TIMEOUT / 2)
    brisa.executor.heartbeat()  # the last one heard before the pause

    brisa.pause(10 * HEARTBEAT_TIMEOUT)
    assert brisa.states("frozen") == {"work": ("running", 1)}

    # From the resume on, the worker has one full timeout to be heard again, as after a restart.
    brisa.advance(HEARTBEAT_TIMEOUT)
    assert brisa.states("frozen") == {"work": ("running", 1)}
    brisa.advance(1)
    assert (
        brisa.task("frozen", "work")["error"]
        == f"worker lost: no heartbeat for {HEARTBEAT_TIMEOUT:g}s"
    )


def test_a_task_over_its_execution_timeout_is_killed_and_failed(brisa: InProcess) -> None:
    brisa.publish(one_task("slow", execution_timeout=timedelta(seconds=20)))
    brisa.executor.script("work", Hang())
    brisa.trigger("slow")
    brisa.settle()
    worker = brisa.executor.find("work")

    brisa.advance(15)
    brisa.executor.heartbeat()
    brisa.advance(5)
    assert brisa.states("slow") == {"work": ("running", 1)}
    brisa.advance(1)

    assert brisa.run("slow")["state"] == "failed"
    assert brisa.task("slow", "work")["error"] == "timed out after 20s (execution_timeout)"
    assert worker in brisa.executor.kills


def test_a_worker_that_died_before_it_started_is_launched_again(brisa: InProcess) -> None:
    brisa.publish(one_task("shaky"))
    brisa.executor.script("work", CrashAtStart())
    brisa.trigger("shaky")
    brisa.settle()
    assert brisa.states("shaky") == {"work": ("queued", 1)}
    assert brisa.executor.alive() == frozenset()

    brisa.advance(RELAUNCH_AFTER - 1)
    assert brisa.states("shaky") == {"work": ("queued", 1)}
    brisa.advance(1.5)  # past the relaunch delay: the same try, launched again, runs

    assert brisa.run("shaky")["state"] == "success"
    work = brisa.task("shaky", "work")
    assert (work["state"], work["try_number"], len(work["attempts"])) == ("success", 1, 1)


def test_a_task_whose_workers_never_start_fails_after_the_queued_timeout(
    brisa: InProcess,
) -> None:
    brisa.publish(one_task("broken"))
    brisa.executor.script("work", *[CrashAtStart()] * 100)
    brisa.trigger("broken")
    brisa.settle()

    while brisa.clock() <= EPOCH + timedelta(seconds=QUEUED_TIMEOUT):
        assert brisa.states("broken") == {"work": ("queued", 1)}
        brisa.advance(RELAUNCH_AFTER + 1)

    assert brisa.run("broken")["state"] == "failed"
    error = brisa.task("broken", "work")["error"]
    assert error == f"worker never started within {QUEUED_TIMEOUT:g}s"


def test_a_worker_stuck_before_it_starts_is_stopped_and_its_task_retried_after_the_queued_timeout(
    brisa: InProcess,
) -> None:
    brisa.publish(one_task("stuck", retries=1, retry_delay=timedelta(0)))
    brisa.executor.script("work", NeverStart(), Succeed("second try"))
    brisa.trigger("stuck")
    brisa.settle()
    worker = brisa.executor.find("work")

    brisa.advance(QUEUED_TIMEOUT)  # its process lives: it is neither relaunched nor failed yet
    assert brisa.states("stuck") == {"work": ("queued", 1)}
    assert brisa.processes.live[worker].launches == 1
    brisa.advance(1)

    assert worker in brisa.executor.kills
    assert brisa.run("stuck")["state"] == "success"
    work = brisa.task("stuck", "work")
    assert (work["state"], work["try_number"], work["return_value"]) == ("success", 2, "second try")
    first = work["attempts"][0]
    assert first["state"] == "up_for_retry"
    assert first["error"] == (
        f"worker never started within {QUEUED_TIMEOUT:g}s: its process lived but never reached "
        "the API"
    )


def test_a_restarted_scheduler_adopts_running_workers_instead_of_starting_them_again(
    brisa: InProcess,
) -> None:
    with DAG("restart") as dag:
        shell("long", "true") >> shell("after", "true")
    brisa.publish(dag)
    brisa.executor.script("long", Hang())
    brisa.trigger("restart")
    brisa.settle()
    worker = brisa.executor.find("long")

    brisa.start_scheduler()  # a new scheduler and executor; the worker process lives on
    brisa.advance(1)
    assert brisa.states("restart") == {"long": ("running", 1), "after": ("pending", 0)}
    assert brisa.processes.live[worker].launches == 1  # not launched twice

    brisa.executor.report("long", Succeed("done"))
    brisa.settle()
    assert brisa.run("restart")["state"] == "success"
    assert brisa.states("restart") == {"long": ("success", 1), "after": ("success", 1)}
