"""Runs through the whole system in one process: triggered through the API, scheduled by the
real scheduler, their attempts played by the fake executor against the execution service,
retries and schedules moved by the fake clock. Every check is what the API shows a user."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from brisa import DAG, TriggerRule, shell
from brisa.testing.fakes import EPOCH, Fail, Succeed
from system.inprocess import InProcess


def chain(dag_id: str, *task_ids: str, **options: object) -> DAG:
    """A DAG of shell tasks in a line (their commands never run: the executor is fake)."""
    with DAG(dag_id, **options) as dag:  # type: ignore[arg-type]
        tasks = [shell(task_id, "true") for task_id in task_ids]
        for before, after in itertools.pairwise(tasks):
            before >> after
    return dag


def test_a_triggered_run_runs_its_tasks_in_order_and_succeeds(brisa: InProcess) -> None:
    brisa.publish(chain("etl", "extract", "load"))
    brisa.executor.script("extract", Succeed({"rows": 3}))
    brisa.executor.script("load", Succeed("loaded"))

    answer = brisa.trigger("etl")
    assert answer["state"] == "queued"
    assert brisa.states("etl") == {"extract": ("pending", 0), "load": ("pending", 0)}

    brisa.settle()

    run = brisa.run("etl")
    assert run["state"] == "success"
    assert brisa.states("etl") == {"extract": ("success", 1), "load": ("success", 1)}
    extract, load = brisa.task("etl", "extract"), brisa.task("etl", "load")
    assert extract["return_value"] == {"rows": 3}
    assert load["return_value"] == "loaded"
    assert extract["end_date"] <= load["start_date"]  # load waited for extract
    assert run["end_date"] is not None


def test_a_failed_task_fails_the_run_and_its_downstream_by_trigger_rule(
    brisa: InProcess,
) -> None:
    with DAG("report") as dag:
        fetch = shell("fetch", "true")
        fetch >> shell("publish", "true")
        fetch >> shell("cleanup", "true", trigger_rule=TriggerRule.ALL_DONE)
        fetch >> shell("alert", "true", trigger_rule=TriggerRule.ONE_FAILED)
    brisa.publish(dag)
    brisa.executor.script("fetch", Fail("the source is down"))

    brisa.trigger("report")
    brisa.settle()

    assert brisa.run("report")["state"] == "failed"
    assert brisa.states("report") == {
        "fetch": ("failed", 1),
        "publish": ("upstream_failed", 0),
        "cleanup": ("success", 1),
        "alert": ("success", 1),
    }
    assert "the source is down" in brisa.task("report", "fetch")["error"]


def test_a_failing_task_is_retried_after_a_delay_that_doubles(brisa: InProcess) -> None:
    dag = chain(
        "flaky", "call", retries=3, retry_delay=timedelta(seconds=10),
        retry_exponential_backoff=True,
    )  # fmt: skip
    brisa.publish(dag)
    brisa.executor.script("call", Fail("timeout 1"), Fail("timeout 2"), Succeed(42))
    brisa.trigger("flaky")
    brisa.settle()

    call = brisa.task("flaky", "call")
    assert (call["state"], call["try_number"]) == ("up_for_retry", 1)
    failed_at = datetime.fromisoformat(call["end_date"])
    assert datetime.fromisoformat(call["next_try_at"]) == failed_at + timedelta(seconds=10)

    brisa.advance(9.9)  # not yet
    assert brisa.states("flaky") == {"call": ("up_for_retry", 1)}
    brisa.advance(0.1)  # the first delay is over: try 2 runs, fails, waits twice as long
    call = brisa.task("flaky", "call")
    assert (call["state"], call["try_number"]) == ("up_for_retry", 2)
    assert call["next_try_at"] == (brisa.clock() + timedelta(seconds=20)).isoformat().replace(
        "+00:00", "Z"
    )

    brisa.advance(19.9)
    assert brisa.states("flaky") == {"call": ("up_for_retry", 2)}
    brisa.advance(0.1)

    assert brisa.run("flaky")["state"] == "success"
    call = brisa.task("flaky", "call")
    assert (call["state"], call["try_number"], call["return_value"]) == ("success", 3, 42)
    assert [a["state"] for a in call["attempts"]] == ["up_for_retry", "up_for_retry", "success"]
    assert [a["error"] for a in call["attempts"]][:2] == ["timeout 1", "timeout 2"]


def test_retries_run_out_and_the_task_fails(brisa: InProcess) -> None:
    brisa.publish(chain("hopeless", "call", retries=1, retry_delay=timedelta(seconds=5)))
    brisa.executor.script("call", Fail("no"), Fail("still no"))
    brisa.trigger("hopeless")
    brisa.settle()
    brisa.advance(5)

    assert brisa.run("hopeless")["state"] == "failed"
    call = brisa.task("hopeless", "call")
    assert (call["state"], call["try_number"], call["error"]) == ("failed", 2, "still no")


def scheduled_runs(brisa: InProcess, dag_id: str) -> list[str]:
    runs = brisa.request("GET", f"{brisa.dag_path(dag_id)}/runs?limit=1000")["runs"]
    return sorted(r["logical_date"] for r in runs if r["run_type"] == "scheduled")


def test_a_paused_dag_gets_no_scheduled_runs_until_it_is_unpaused(brisa: InProcess) -> None:
    start = EPOCH - timedelta(hours=1)
    brisa.publish(chain("hourly", "tick", schedule=timedelta(minutes=10), start_date=start))
    brisa.settle()
    first = scheduled_runs(brisa, "hourly")
    assert first, "an unpaused DAG gets its scheduled run"
    brisa.advance(600)
    before_pause = scheduled_runs(brisa, "hourly")
    assert len(before_pause) == len(first) + 1  # one more interval, one more run

    paused = brisa.request("PATCH", brisa.dag_path("hourly"), {"is_paused": True})
    assert (paused["is_paused"], paused["next_run"]) == (True, None)
    for _ in range(6):  # an hour of scheduler passes
        brisa.advance(600)
    assert scheduled_runs(brisa, "hourly") == before_pause

    brisa.request("PATCH", brisa.dag_path("hourly"), {"is_paused": False})
    brisa.settle()
    after = scheduled_runs(brisa, "hourly")
    assert len(after) == len(before_pause) + 1  # no catch-up: just the latest interval
    assert datetime.fromisoformat(after[-1]) > datetime.fromisoformat(before_pause[-1])
    assert datetime.fromisoformat(after[-1]) <= brisa.clock()
    newest = brisa.request("GET", f"{brisa.dag_path('hourly')}/runs?limit=1")["runs"][0]
    assert newest["state"] == "success"


def test_the_clock_is_the_only_time_the_system_reads(brisa: InProcess) -> None:
    brisa.publish(chain("stamped", "only"))
    run = brisa.trigger("stamped")
    brisa.settle()
    started = brisa.task("stamped", "only")["start_date"]
    assert run["created_at"] == started == "2026-01-01T00:00:00Z"
    assert brisa.clock() == datetime(2026, 1, 1, tzinfo=UTC)
