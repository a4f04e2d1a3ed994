"""The scheduler's decisions: which runs to create and start, which tasks to queue, retry,
time out, relaunch or kill, and when a run is over. Time is whatever `Snapshot.now` says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from planner_builders import (
    T0,
    apply,
    at,
    build_spec,
    dag_record,
    finish,
    make_run,
    ref,
    snapshot,
    spec_of,
    start,
    task_states,
)

from brisa import DAG, Param, task
from brisa.core.planner import (
    Action,
    CreateRun,
    DagSchedule,
    Kill,
    Limits,
    QueueTask,
    Relaunch,
    SetRunState,
    SetTaskState,
    Snapshot,
    plan,
)
from brisa.core.pools import PoolClaim
from brisa.core.records import AttemptRef, RunRecord, TaskRecord
from brisa.core.retry import failure_outcome
from brisa.core.spec import DagSpec
from brisa.core.states import RunState, TaskState

T, R = TaskState, RunState
BERLIN = ZoneInfo("Europe/Berlin")

ONE_SLOT = PoolClaim("data")  # one slot of the team's default pool


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def queued_ids(actions: list[Action]) -> list[int]:
    return [a.ti_id for a in actions if isinstance(a, QueueTask)]


def run_states(actions: list[Action]) -> list[tuple[int, RunState]]:
    return [(a.run_pk, a.state) for a in actions if isinstance(a, SetRunState)]


def task_changes(actions: list[Action]) -> dict[int, TaskState]:
    return {a.ti_id: a.state for a in actions if isinstance(a, SetTaskState)}


# --- scheduled runs --------------------------------------------------------------------------


def created(
    spec: DagSpec,
    now: datetime,
    *,
    last: datetime | None = None,
    active: int = 0,
    limits: Limits | None = None,
    **record: Any,
) -> list[CreateRun]:
    snap = Snapshot(
        now=now,
        dags=[DagSchedule(dag_record(spec, **record), last, active)],
        runs=[],
        specs={},
        alive=frozenset(),
        free_slots=8,
        limits=limits or Limits(),
    )
    actions = plan(snap)
    assert all(isinstance(a, CreateRun) for a in actions)
    return [a for a in actions if isinstance(a, CreateRun)]


def simulate(
    spec: DagSpec,
    since: datetime,
    until: datetime,
    *,
    step: timedelta,
    last: datetime | None = None,
) -> list[tuple[datetime, CreateRun]]:
    """A scheduler ticking every `step`; each created run finishes at once."""
    made = []
    now = since
    while now < until:
        for run in created(spec, now, last=last):
            made.append((now, run))
            last = run.logical_date
        now += step
    return made


def daily_berlin(**kw: Any) -> DagSpec:
    return build_spec(
        "daily",
        tasks=("extract", "load"),
        edges=[("extract", "load")],
        schedule="0 6 * * *",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 3, 1),
        **kw,
    )


def test_cron_in_a_time_zone_creates_one_run_per_fire_with_its_data_interval() -> None:
    runs = created(daily_berlin(catchup=True), utc(2026, 3, 4, 5, 30))

    # 06:00 in Berlin is 05:00 UTC in winter; the interval runs from the previous fire. The
    # 03-01 fire covers the day before the start date, so the first run is 03-02's.
    assert runs == [
        CreateRun(
            team="data",
            dag_id="daily",
            version_id=1,
            logical_date=utc(2026, 3, d, 5),
            interval=(utc(2026, 3, d, 5) - timedelta(days=1), utc(2026, 3, d, 5)),
            task_ids=("extract", "load"),
            conf={},
        )
        for d in (2, 3, 4)
    ]


def test_a_run_is_created_when_its_fire_time_comes_not_before() -> None:
    made = simulate(daily_berlin(), utc(2026, 3, 1), utc(2026, 3, 5), step=timedelta(minutes=15))

    # Nothing on 03-01: its fire covers the day before the start date.
    assert [(tick, run.logical_date) for tick, run in made] == [
        (utc(2026, 3, d, 5), utc(2026, 3, d, 5)) for d in (2, 3, 4)
    ]


def test_cron_follows_the_time_zone_across_the_spring_forward() -> None:
    # Berlin moves to summer time on 2026-03-29: 06:00 local is then 04:00 UTC.
    runs = created(daily_berlin(), utc(2026, 3, 29, 4, 0), last=utc(2026, 3, 28, 5, 0))

    assert [(r.logical_date, r.interval) for r in runs] == [
        (utc(2026, 3, 29, 4), (utc(2026, 3, 28, 5), utc(2026, 3, 29, 4))),
    ]


@pytest.mark.parametrize("catchup", [True, False])
def test_a_0230_berlin_dag_runs_exactly_once_on_the_dst_fall_back_day(catchup: bool) -> None:
    # On 2026-10-25 Berlin's clocks go from 03:00 back to 02:00: 02:30 happens twice.
    spec = build_spec(
        "nightly",
        schedule="30 2 * * *",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 10, 1),
        catchup=catchup,
    )

    made = simulate(
        spec,
        utc(2026, 10, 24),
        utc(2026, 10, 27),
        step=timedelta(minutes=5),
        last=utc(2026, 10, 23, 0, 30),
    )

    local_days = [run.logical_date.astimezone(BERLIN).date().isoformat() for _, run in made]
    assert local_days == ["2026-10-24", "2026-10-25", "2026-10-26"]
    fall_back = made[1][1]
    assert fall_back.logical_date == utc(2026, 10, 25, 0, 30)  # 02:30 summer time
    # The day after covers the 25 hours of the long day.
    assert made[2][1].interval == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30))


def midnight_utc(**kw: Any) -> DagSpec:
    kw.setdefault("catchup", True)
    return build_spec("nightly", schedule="@daily", start_date=utc(2026, 1, 1), **kw)


def test_catchup_creates_missed_runs_oldest_first_up_to_the_free_active_runs() -> None:
    spec = midnight_utc(max_active_runs=3)
    now = utc(2026, 1, 10, 12)

    assert [r.logical_date for r in created(spec, now, active=1)] == [
        utc(2026, 1, 2),
        utc(2026, 1, 3),
    ]
    assert [r.logical_date for r in created(spec, now, last=utc(2026, 1, 2), active=1)] == [
        utc(2026, 1, 3),
        utc(2026, 1, 4),
    ]
    assert created(spec, now, last=utc(2026, 1, 2), active=3) == []


def test_catchup_creates_no_more_runs_per_iteration_than_the_limit() -> None:
    spec = midnight_utc(max_active_runs=16)

    runs = created(spec, utc(2026, 1, 10, 12), limits=Limits(max_runs_created=4))

    assert [r.logical_date for r in runs] == [utc(2026, 1, d) for d in (2, 3, 4, 5)]


def test_without_catchup_only_the_latest_missed_run_is_created() -> None:
    spec = midnight_utc(catchup=False)
    now = utc(2026, 1, 10, 12)

    runs = created(spec, now, last=utc(2026, 1, 3))

    assert [(r.logical_date, r.interval) for r in runs] == [
        (utc(2026, 1, 10), (utc(2026, 1, 9), utc(2026, 1, 10)))
    ]
    assert created(spec, now, last=utc(2026, 1, 10)) == []
    assert created(spec, now, active=16) == []


@pytest.mark.parametrize("catchup", [True, False])
def test_nothing_is_scheduled_before_the_start_date(catchup: bool) -> None:
    spec = build_spec(
        "hourly", schedule="@hourly", start_date=utc(2026, 1, 5, 10, 15), catchup=catchup
    )

    # The 11:00 fire covers [10:00, 11:00), which begins before the start: 12:00 runs first.
    assert created(spec, utc(2026, 1, 5, 10, 59)) == []
    assert created(spec, utc(2026, 1, 5, 11, 59)) == []
    first = created(spec, utc(2026, 1, 5, 13, 30))
    expected = [utc(2026, 1, 5, 12), utc(2026, 1, 5, 13)] if catchup else [utc(2026, 1, 5, 13)]
    assert [r.logical_date for r in first] == expected
    assert all(r.interval[0] >= utc(2026, 1, 5, 10, 15) for r in first)


@pytest.mark.parametrize("catchup", [True, False])
def test_nothing_is_scheduled_after_the_end_date(catchup: bool) -> None:
    spec = build_spec(
        "hourly",
        schedule="@hourly",
        start_date=utc(2026, 1, 5, 10),
        end_date=utc(2026, 1, 5, 12),
        catchup=catchup,
    )
    now = utc(2026, 1, 8)

    runs = created(spec, now)

    expected = [utc(2026, 1, 5, 11), utc(2026, 1, 5, 12)] if catchup else [utc(2026, 1, 5, 12)]
    assert [r.logical_date for r in runs] == expected
    assert created(spec, now, last=utc(2026, 1, 5, 12)) == []


def test_an_interval_schedule_fires_every_period_from_the_start_date() -> None:
    spec = build_spec(
        "six_hourly", schedule=timedelta(hours=6), start_date=utc(2026, 1, 1, 3), catchup=True
    )

    runs = created(spec, utc(2026, 1, 1, 22))

    # The first run covers the first period after the start date.
    assert [(r.logical_date, r.interval) for r in runs] == [
        (utc(2026, 1, 1, 9), (utc(2026, 1, 1, 3), utc(2026, 1, 1, 9))),
        (utc(2026, 1, 1, 15), (utc(2026, 1, 1, 9), utc(2026, 1, 1, 15))),
        (utc(2026, 1, 1, 21), (utc(2026, 1, 1, 15), utc(2026, 1, 1, 21))),
    ]


@pytest.mark.parametrize("record", [{"is_paused": True}, {"is_active": False}])
def test_paused_or_inactive_dags_get_no_runs(record: dict[str, bool]) -> None:
    assert created(midnight_utc(), utc(2026, 1, 10), **record) == []


@pytest.mark.parametrize("schedule", [None, "@manual"])
def test_manual_dags_get_no_scheduled_runs(schedule: str | None) -> None:
    spec = build_spec("adhoc", schedule=schedule, start_date=utc(2026, 1, 1), catchup=True)

    assert created(spec, utc(2026, 1, 10)) == []


def test_scheduled_runs_carry_the_param_defaults_as_conf() -> None:
    spec = build_spec(
        "report",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        params={"env": "prod", "limit": Param(10, type="integer")},
    )

    (run,) = created(spec, utc(2026, 1, 2, 1))

    assert run.conf == {"env": "prod", "limit": 10}


# --- max_active_runs -------------------------------------------------------------------------


def test_queued_runs_start_oldest_first_while_fewer_than_max_active_runs_run() -> None:
    spec = build_spec("etl", max_active_runs=2)
    other = build_spec("other", max_active_runs=1)
    runs = [make_run(spec, pk=1, state=R.RUNNING, logical_date=T0 - timedelta(days=3))]
    runs += [
        make_run(
            spec, pk=pk, state=R.QUEUED, start_date=None, logical_date=T0 - timedelta(days=5 - pk)
        )
        for pk in (2, 3, 4)
    ]
    # Another DAG's running runs do not count against this one.
    runs += [make_run(other, pk=9, version_id=2, state=R.RUNNING)]

    # Listed newest first: the planner still starts the oldest queued run.
    actions = plan(snapshot(T0, runs[::-1], specs={1: spec, 2: other}))

    assert run_states(actions) == [(2, R.RUNNING)]
    # The run that starts has its first task queued in the same pass; the runs left queued
    # have none.
    assert sorted(queued_ids(actions)) == [100, 200, 900]


def test_no_queued_run_starts_while_max_active_runs_are_running() -> None:
    spec = build_spec("etl", max_active_runs=2)
    runs = [
        make_run(spec, pk=1, state=R.RUNNING),
        make_run(spec, pk=2, state=R.RUNNING),
        make_run(spec, pk=3, state=R.QUEUED, start_date=None),
    ]

    assert run_states(plan(snapshot(T0, runs, spec=spec))) == []


def test_several_queued_runs_start_together_when_there_is_room() -> None:
    spec = build_spec("etl", max_active_runs=2)
    runs = [
        make_run(spec, pk=pk, state=R.QUEUED, start_date=None, logical_date=T0 + timedelta(days=pk))
        for pk in (1, 2, 3)
    ]

    assert run_states(plan(snapshot(T0, runs, spec=spec))) == [(1, R.RUNNING), (2, R.RUNNING)]


def test_a_run_state_change_names_the_state_it_was_decided_on() -> None:
    # The store refuses it if a cancel or a clear moved the run in between.
    spec = build_spec("etl", max_active_runs=2)
    runs = [make_run(spec, pk=1, state=R.QUEUED, start_date=None)]
    started = [a for a in plan(snapshot(T0, runs, spec=spec)) if isinstance(a, SetRunState)]
    assert [(a.state, a.expected) for a in started] == [(R.RUNNING, R.QUEUED)]


# --- ready tasks -----------------------------------------------------------------------------


def test_root_tasks_queue_at_once_and_downstream_tasks_wait() -> None:
    spec = build_spec(
        tasks=("a", "b", "c"),
        edges=[("a", "c"), ("b", "c")],
        task_options={"a": {"execution_timeout": 90}},
    )
    run = make_run(spec)

    actions = plan(snapshot(T0, [run], spec=spec))

    assert actions == [
        QueueTask(run.tasks["a"].id, T.PENDING, 0, run.id, 90.0, ONE_SLOT),
        QueueTask(run.tasks["b"].id, T.PENDING, 0, run.id, None, ONE_SLOT),
    ]


SKIP, UPSTREAM_FAILED, QUEUE, WAIT = T.SKIPPED, T.UPSTREAM_FAILED, "queue", "wait"


@pytest.mark.parametrize(
    ("rule", "upstream", "outcome"),
    [
        ("all_success", (T.SUCCESS, T.SUCCESS), QUEUE),
        ("all_success", (T.SUCCESS, T.RUNNING), WAIT),
        ("all_success", (T.SUCCESS, T.UP_FOR_RETRY), WAIT),
        ("all_success", (T.SUCCESS, T.SKIPPED), SKIP),
        ("all_success", (T.FAILED, T.RUNNING), UPSTREAM_FAILED),
        ("all_success", (T.UPSTREAM_FAILED, T.SUCCESS), UPSTREAM_FAILED),
        ("all_done", (T.FAILED, T.SKIPPED), QUEUE),
        ("all_done", (T.FAILED, T.QUEUED), WAIT),
        ("all_failed", (T.FAILED, T.UPSTREAM_FAILED), QUEUE),
        ("all_failed", (T.FAILED, T.SUCCESS), SKIP),
        ("one_failed", (T.FAILED, T.RUNNING), QUEUE),
        ("one_failed", (T.SUCCESS, T.SUCCESS), SKIP),
        ("one_success", (T.SUCCESS, T.PENDING), QUEUE),
        ("one_success", (T.FAILED, T.FAILED), UPSTREAM_FAILED),
        ("one_done", (T.SKIPPED, T.FAILED), QUEUE),
        ("none_failed", (T.SUCCESS, T.SKIPPED), QUEUE),
        ("none_failed", (T.SUCCESS, T.FAILED), UPSTREAM_FAILED),
        ("none_skipped", (T.SKIPPED, T.SUCCESS), SKIP),
        ("always", (T.PENDING, T.RUNNING), QUEUE),
    ],
)
def test_a_task_follows_its_trigger_rule(
    rule: str, upstream: tuple[TaskState, TaskState], outcome: TaskState | str
) -> None:
    spec = build_spec(
        tasks=("up1", "up2", "down"),
        edges=[("up1", "down"), ("up2", "down")],
        task_options={"down": {"trigger_rule": rule}},
    )
    run = make_run(
        spec,
        tasks={
            "up1": {"state": upstream[0], "try_number": 1},
            "up2": {"state": upstream[1], "try_number": 1},
        },
    )
    down = run.tasks["down"].id

    actions = plan(snapshot(T0, [run], spec=spec))

    decided: TaskState | str = WAIT
    if down in queued_ids(actions):
        decided = QUEUE
    decided = task_changes(actions).get(down, decided)
    assert decided == outcome


def settle(
    runs: list[RunRecord], spec: DagSpec, now: datetime, max_plans: int = 20
) -> list[list[Action]]:
    """Plan and apply until the planner has nothing left to do; returns each plan."""
    plans = []
    for _ in range(max_plans):
        actions = plan(snapshot(now, runs, spec=spec))
        if not actions:
            return plans
        plans.append(actions)
        runs[:] = apply(runs, actions, now)
    raise AssertionError(f"the planner never settled: {plans[-3:]}")


def chain(**kw: Any) -> DagSpec:
    # Named against the graph order, so no iteration order can make the chain look shorter.
    return build_spec(
        tasks=("d4", "c3", "b2", "a1"), edges=[("d4", "c3"), ("c3", "b2"), ("b2", "a1")], **kw
    )


def test_an_upstream_failure_propagates_down_a_chain_over_successive_plans() -> None:
    spec = chain()
    runs = [make_run(spec, tasks={"d4": {"state": T.FAILED, "try_number": 1}})]

    plans = settle(runs, spec, T0)

    assert task_states(runs[0]) == {
        "d4": T.FAILED,
        "c3": UPSTREAM_FAILED,
        "b2": UPSTREAM_FAILED,
        "a1": UPSTREAM_FAILED,
    }
    assert runs[0].state is R.FAILED
    assert not any(queued_ids(p) for p in plans)


def test_skips_propagate_down_a_chain_and_the_run_succeeds() -> None:
    spec = chain()
    runs = [make_run(spec, tasks={"d4": {"state": T.SKIPPED, "try_number": 1}})]

    settle(runs, spec, T0)

    assert set(task_states(runs[0]).values()) == {T.SKIPPED}
    assert runs[0].state is R.SUCCESS


@pytest.mark.parametrize("edges", [[], [("a", "b")]])
def test_a_decision_that_may_lose_its_race_is_not_built_upon_in_the_same_plan(
    edges: list[tuple[str, str]],
) -> None:
    # a's worker looks lost, but it may still report success before the update lands: neither
    # its downstream task nor the run may be failed on the strength of that update.
    spec = build_spec(tasks=("a", "b")[: len(edges) + 1], edges=edges)
    run = make_run(
        spec,
        tasks={
            "a": {"state": T.RUNNING, "try_number": 1, "start_date": at(0), "heartbeat_at": at(0)}
        },
    )

    actions = plan(snapshot(at(60), [run], spec=spec))

    assert task_changes(actions) == {run.tasks["a"].id: T.FAILED}
    assert run_states(actions) == []


def test_tasks_queue_only_into_free_executor_slots_oldest_run_first() -> None:
    spec = build_spec(tasks=("a", "b", "c"))
    old = make_run(spec, pk=1, logical_date=T0 - timedelta(days=1))
    new = make_run(spec, pk=2, logical_date=T0)

    assert queued_ids(plan(snapshot(T0, [new, old], spec=spec, free_slots=4))) == [
        100,
        101,
        102,
        200,
    ]
    assert queued_ids(plan(snapshot(T0, [old, new], spec=spec, free_slots=2))) == [100, 101]
    assert queued_ids(plan(snapshot(T0, [old, new], spec=spec, free_slots=0))) == []


def test_max_active_tasks_counts_queued_and_running_tasks_across_runs_of_the_dag() -> None:
    spec = build_spec(tasks=("a", "b", "c", "d"), max_active_tasks=3)
    other = build_spec("other", tasks=("a", "b", "c", "d"), max_active_tasks=3)
    first = make_run(
        spec,
        pk=1,
        tasks={
            "a": {"state": T.RUNNING, "try_number": 1},
            "b": {"state": T.QUEUED, "try_number": 1},
        },
    )
    second = make_run(spec, pk=2)
    busy_other = make_run(
        other,
        pk=3,
        version_id=2,
        tasks={
            "a": {"state": T.RUNNING, "try_number": 1},
            "b": {"state": T.RUNNING, "try_number": 1},
        },
    )

    actions = plan(
        snapshot(
            T0, [first, second, busy_other], specs={1: spec, 2: other}, alive=[ref(first, "b")]
        )
    )

    # One more task of "etl" fits (2 active of 3); "other" has room for one too.
    assert queued_ids(actions) == [first.tasks["c"].id, busy_other.tasks["c"].id]


def test_a_due_retry_takes_a_place_under_max_active_tasks() -> None:
    spec = build_spec(tasks=("a", "b"), max_active_tasks=1)
    run = make_run(spec, tasks={"a": {"state": T.UP_FOR_RETRY, "try_number": 1, "next_try_at": T0}})

    assert queued_ids(plan(snapshot(T0, [run], spec=spec))) == [run.tasks["a"].id]


# --- retries ---------------------------------------------------------------------------------


def retrying(next_try_at: datetime | None, **fields: Any) -> tuple[DagSpec, RunRecord]:
    spec = build_spec(tasks=("a",), retries=3)
    return spec, make_run(
        spec,
        tasks={
            "a": {"state": T.UP_FOR_RETRY, "try_number": 1, "next_try_at": next_try_at, **fields}
        },
    )


def test_a_task_up_for_retry_is_queued_again_only_once_its_retry_time_has_come() -> None:
    spec, run = retrying(at(30))

    assert plan(snapshot(at(29.9), [run], spec=spec)) == []
    assert plan(snapshot(at(30), [run], spec=spec)) == [
        QueueTask(run.tasks["a"].id, T.UP_FOR_RETRY, 1, run.id, None, ONE_SLOT)
    ]
    assert queued_ids(plan(snapshot(at(30), [run], spec=spec, free_slots=0))) == []


def test_a_task_up_for_retry_without_a_retry_time_is_retried_at_once() -> None:
    # A missing next_try_at must not leave the task waiting forever.
    spec, run = retrying(None)

    assert queued_ids(plan(snapshot(T0, [run], spec=spec))) == [run.tasks["a"].id]


# --- execution timeout and lost workers ------------------------------------------------------


def running(
    *,
    retries: int = 0,
    execution_timeout: float | None = None,
    started: float = 0,
    heartbeat: float | None = 0,
) -> tuple[DagSpec, RunRecord]:
    spec = build_spec(
        tasks=("a",), retries=retries, retry_delay=15, execution_timeout=execution_timeout
    )
    run = make_run(
        spec,
        tasks={
            "a": {
                "state": T.RUNNING,
                "try_number": 1,
                "queued_at": at(started - 1),
                "start_date": at(started),
                "heartbeat_at": None if heartbeat is None else at(heartbeat),
            }
        },
    )
    return spec, run


@pytest.mark.parametrize(
    ("retries", "state", "next_try_at"), [(0, T.FAILED, None), (1, T.UP_FOR_RETRY, at(61 + 15))]
)
def test_a_task_running_past_its_execution_timeout_is_killed(
    retries: int, state: TaskState, next_try_at: datetime | None
) -> None:
    spec, run = running(retries=retries, execution_timeout=60, heartbeat=60)
    ti = run.tasks["a"]

    actions = plan(snapshot(at(61), [run], spec=spec, alive=[ref(run, "a")]))

    assert actions == [
        SetTaskState(
            ti.id,
            T.RUNNING,
            1,
            state,
            next_try_at,
            "timed out after 60s (execution_timeout)",
            kill=True,
        )
    ]


def test_a_task_within_its_execution_timeout_is_left_alone() -> None:
    spec, run = running(execution_timeout=60, heartbeat=60)

    assert plan(snapshot(at(60), [run], spec=spec, alive=[ref(run, "a")])) == []


@pytest.mark.parametrize(("retries", "state"), [(0, T.FAILED), (2, T.UP_FOR_RETRY)])
def test_a_running_task_with_a_stale_heartbeat_is_failed_or_retried_as_lost(
    retries: int, state: TaskState
) -> None:
    spec, run = running(retries=retries, heartbeat=100)

    (action,) = plan(
        snapshot(
            at(131), [run], spec=spec, alive=[ref(run, "a")], limits=Limits(heartbeat_timeout=30)
        )
    )

    assert isinstance(action, SetTaskState)
    assert (action.ti_id, action.expected, action.try_number, action.state, action.kill) == (
        run.tasks["a"].id,
        T.RUNNING,
        1,
        state,
        True,
    )
    assert "heartbeat" in (action.error or "")


def test_a_running_task_with_a_fresh_heartbeat_is_left_alone() -> None:
    spec, run = running(heartbeat=100)

    alive = [ref(run, "a")]
    assert plan(snapshot(at(130), [run], spec=spec, alive=alive)) == []
    limits = Limits(heartbeat_timeout=60)
    assert plan(snapshot(at(159), [run], spec=spec, alive=alive, limits=limits)) == []


@pytest.mark.parametrize(("retries", "state"), [(0, T.FAILED), (2, T.UP_FOR_RETRY)])
def test_a_running_task_whose_worker_is_gone_is_lost_at_once(
    retries: int, state: TaskState
) -> None:
    spec, run = running(retries=retries, heartbeat=100)

    # Fresh heartbeat, but the executor no longer sees the worker: it died without reporting.
    (action,) = plan(snapshot(at(101), [run], spec=spec, alive=[]))

    assert isinstance(action, SetTaskState)
    assert (action.expected, action.state, action.kill) == (T.RUNNING, state, True)
    assert "ended without reporting" in (action.error or "")


def test_a_worker_that_started_after_the_executor_was_asked_is_not_judged_yet() -> None:
    # The executor's view is read before the runs: a worker that told the API it started
    # after that moment may simply not be in the view yet (adopted after a restart).
    spec, run = running(started=101, heartbeat=101)
    assert plan(snapshot(at(101), [run], spec=spec, alive=[])) == []
    (action,) = plan(snapshot(at(102), [run], spec=spec, alive=[]))
    assert isinstance(action, SetTaskState) and "ended without reporting" in (action.error or "")


# --- queued tasks whose worker does not show up ----------------------------------------------


def queued(retries: int = 0) -> tuple[DagSpec, RunRecord]:
    spec = build_spec(
        tasks=("a",), retries=retries, retry_delay=5, task_options={"a": {"execution_timeout": 300}}
    )
    return spec, make_run(spec, tasks={"a": {"state": T.QUEUED, "try_number": 1, "queued_at": T0}})


def test_a_queued_task_without_a_live_worker_is_relaunched_after_a_while() -> None:
    spec, run = queued()
    limits = Limits(relaunch_after=5, queued_timeout=120)

    assert plan(snapshot(at(5), [run], spec=spec, limits=limits)) == []
    assert plan(snapshot(at(6), [run], spec=spec, limits=limits)) == [
        Relaunch(AttemptRef(run.tasks["a"].id, 1), 300.0)
    ]


@pytest.mark.parametrize(
    ("retries", "state", "next_try_at"), [(0, T.FAILED, None), (1, T.UP_FOR_RETRY, at(126))]
)
def test_a_queued_task_whose_worker_never_starts_is_failed_or_retried(
    retries: int, state: TaskState, next_try_at: datetime | None
) -> None:
    spec, run = queued(retries)

    actions = plan(snapshot(at(121), [run], spec=spec, limits=Limits(queued_timeout=120)))

    assert actions == [
        SetTaskState(
            run.tasks["a"].id,
            T.QUEUED,
            1,
            state,
            next_try_at,
            "worker never started within 120s",
            kill=True,
        )
    ]


def test_a_queued_task_with_a_live_worker_is_left_alone_within_the_queued_timeout() -> None:
    spec, run = queued()
    limits = Limits(relaunch_after=5, queued_timeout=120)

    # Its worker lives (starting up, fetching code, ...): not relaunched, not failed yet.
    assert plan(snapshot(at(120), [run], spec=spec, alive=[ref(run, "a")], limits=limits)) == []


@pytest.mark.parametrize(
    ("retries", "state", "next_try_at"), [(0, T.FAILED, None), (1, T.UP_FOR_RETRY, at(126))]
)
def test_a_queued_task_whose_live_worker_never_reaches_the_api_is_stopped_and_failed(
    retries: int, state: TaskState, next_try_at: datetime | None
) -> None:
    spec, run = queued(retries)
    alive = [ref(run, "a")]

    actions = plan(snapshot(at(121), [run], spec=spec, alive=alive, limits=Limits()))

    assert actions == [
        SetTaskState(
            run.tasks["a"].id,
            T.QUEUED,
            1,
            state,
            next_try_at,
            "worker never started within 120s: its process lived but never reached the API",
            kill=True,
        )
    ]


# --- killing workers that should not run -----------------------------------------------------


@pytest.mark.parametrize("state", [T.SUCCESS, T.FAILED, T.UP_FOR_RETRY])
def test_a_finished_task_whose_worker_does_not_exit_gets_killed_after_a_grace(
    state: TaskState,
) -> None:
    spec = build_spec(tasks=("a", "b"), retries=1)
    run = make_run(
        spec,
        tasks={
            "a": {"state": state, "try_number": 1, "next_try_at": T0, "end_date": T0},
            "b": T.RUNNING,
        },
    )
    alive = [ref(run, "a"), ref(run, "b")]
    limits = Limits(exit_grace=10)

    # The worker reported its result and may still be writing its last lines: not yet.
    assert plan(snapshot(at(10), [run], spec=spec, alive=alive, limits=limits)) == []
    assert plan(snapshot(at(11), [run], spec=spec, alive=alive, limits=limits)) == [
        Kill(AttemptRef(run.tasks["a"].id, 1))
    ]


def test_a_cancelled_task_whose_worker_is_alive_is_killed_at_once() -> None:
    spec = build_spec(tasks=("a", "b"))
    run = make_run(
        spec,
        tasks={"a": {"state": T.CANCELLED, "try_number": 1, "end_date": T0}, "b": T.RUNNING},
    )

    actions = plan(snapshot(T0, [run], spec=spec, alive=[ref(run, "a"), ref(run, "b")]))

    assert actions == [Kill(AttemptRef(run.tasks["a"].id, 1))]


def test_a_worker_of_an_older_try_is_killed() -> None:
    spec = build_spec(tasks=("a",))
    run = make_run(spec, tasks={"a": {"state": T.RUNNING, "try_number": 3, "heartbeat_at": T0}})
    old, current = AttemptRef(run.tasks["a"].id, 2), AttemptRef(run.tasks["a"].id, 3)

    assert plan(snapshot(T0, [run], spec=spec, alive=[old, current])) == [Kill(old)]


def test_a_cleared_task_is_killed_before_its_next_try_is_queued() -> None:
    spec = build_spec(tasks=("a",))
    # Cleared while try 2 was running: pending again, the try's worker still alive.
    run = make_run(spec, tasks={"a": {"state": T.PENDING, "try_number": 2, "retry_base": 2}})
    old_try = AttemptRef(run.tasks["a"].id, 2)

    assert plan(snapshot(T0, [run], spec=spec, alive=[old_try])) == [Kill(old_try)]
    assert plan(snapshot(at(1), [run], spec=spec)) == [
        QueueTask(run.tasks["a"].id, T.PENDING, 2, run.id, None, ONE_SLOT)
    ]


def test_stray_workers_of_tasks_no_longer_queued_or_running_are_killed() -> None:
    stray = [
        TaskRecord(id=i, run_pk=7, task_id=f"t{i}", state=state, try_number=1)
        for i, state in enumerate([T.SUCCESS, T.CANCELLED, T.PENDING, T.QUEUED, T.RUNNING])
    ]

    alive = [AttemptRef(ti.id, 1) for ti in stray]
    actions = plan(snapshot(T0, stray=stray, alive=alive))

    assert actions == [Kill(AttemptRef(0, 1)), Kill(AttemptRef(1, 1)), Kill(AttemptRef(2, 1))]


# --- run completion --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "outcome"),
    [
        ((T.SUCCESS, T.SUCCESS, T.SUCCESS), R.SUCCESS),
        ((T.SUCCESS, T.SKIPPED, T.SKIPPED), R.SUCCESS),
        ((T.SUCCESS, T.FAILED, T.SUCCESS), R.FAILED),
        ((T.SUCCESS, T.SUCCESS, T.UPSTREAM_FAILED), R.FAILED),
        ((T.SUCCESS, T.CANCELLED, T.SUCCESS), R.FAILED),
        ((T.SUCCESS, T.UP_FOR_RETRY, T.SUCCESS), None),
        ((T.SUCCESS, T.SUCCESS, T.RUNNING), None),
    ],
)
def test_a_run_ends_when_all_its_tasks_are_finished(
    states: tuple[TaskState, ...], outcome: RunState | None
) -> None:
    spec = build_spec(tasks=("a", "b", "c"))
    run = make_run(
        spec,
        tasks={
            tid: {"state": s, "try_number": 1, "next_try_at": at(60)}
            for tid, s in zip("abc", states, strict=True)
        },
    )

    actions = plan(snapshot(T0, [run], spec=spec))

    assert run_states(actions) == ([(run.id, outcome)] if outcome else [])


def test_a_run_past_its_dagrun_timeout_fails_and_cancels_its_unfinished_tasks() -> None:
    spec = build_spec(tasks=("done", "pend", "queued", "retry", "running"), dagrun_timeout=3600)
    run = make_run(
        spec,
        created_at=at(-600),  # queued ten minutes before it started
        start_date=at(0),
        tasks={
            "done": {"state": T.SUCCESS, "try_number": 1},
            "queued": {"state": T.QUEUED, "try_number": 1, "queued_at": at(3590)},
            "retry": {"state": T.UP_FOR_RETRY, "try_number": 1, "next_try_at": at(3601)},
            "running": {"state": T.RUNNING, "try_number": 2, "heartbeat_at": at(3600)},
        },
    )
    ids = {tid: ti.id for tid, ti in run.tasks.items()}
    reason = "run exceeded its dagrun_timeout of 3600s"

    on_time = plan(snapshot(at(3600), [run], spec=spec))
    assert run_states(on_time) == []
    assert T.CANCELLED not in task_changes(on_time).values()

    actions = plan(snapshot(at(3601), [run], spec=spec))

    assert actions == [
        SetRunState(run.id, R.FAILED, reason, expected=run.state),
        SetTaskState(ids["pend"], T.PENDING, 0, T.CANCELLED, error=reason),
        SetTaskState(ids["queued"], T.QUEUED, 1, T.CANCELLED, error=reason, kill=True),
        SetTaskState(ids["retry"], T.UP_FOR_RETRY, 1, T.CANCELLED, error=reason),
        SetTaskState(ids["running"], T.RUNNING, 2, T.CANCELLED, error=reason, kill=True),
    ]


def test_dagrun_timeout_counts_from_creation_when_the_run_has_no_start_date() -> None:
    spec = build_spec(tasks=("a",), dagrun_timeout=60)
    run = make_run(spec, created_at=at(0), start_date=None)

    assert run_states(plan(snapshot(at(61), [run], spec=spec))) == [(run.id, R.FAILED)]


def test_runs_whose_dag_version_is_unknown_are_left_alone() -> None:
    spec = build_spec(tasks=("a",))
    run = make_run(spec, version_id=42)

    assert plan(snapshot(T0, [run], specs={1: spec})) == []


# --- a whole run on the fake clock -----------------------------------------------------------


def pipeline() -> DagSpec:
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task(retries=2, retry_delay=timedelta(seconds=30), retry_exponential_backoff=True)
    def transform(rows: list[int]) -> int:
        return sum(rows)

    @task
    def load(total: int) -> None:
        print(total)

    with DAG("pipeline", schedule="@daily", start_date=utc(2026, 1, 1)) as dag:
        load(transform(extract()))
    return spec_of(dag)


def test_a_run_goes_from_creation_to_success_through_a_retry() -> None:
    spec = pipeline()
    day = utc(2026, 1, 2)
    snap = Snapshot(
        now=day,
        dags=[DagSchedule(dag_record(spec), utc(2026, 1, 1), 0)],
        runs=[],
        specs={1: spec},
        alive=frozenset(),
        free_slots=4,
    )
    (create,) = plan(snap)
    assert isinstance(create, CreateRun)
    runs = [make_run(spec, state=R.QUEUED, start_date=None, logical_date=create.logical_date)]
    failures = {"transform": 1}  # transform fails on its first try only
    now, order = day, []

    for _ in range(60):
        now += timedelta(seconds=1)
        alive = [
            AttemptRef(ti.id, ti.try_number)
            for ti in runs[0].tasks.values()
            if ti.state in (T.QUEUED, T.RUNNING)
        ]
        runs = apply(runs, plan(snapshot(now, runs, spec=spec, alive=alive)), now)
        run = runs[0]
        for tid, ti in sorted(run.tasks.items()):
            if ti.state is T.QUEUED:
                run = start(run, tid, now)
                order.append((tid, run.tasks[tid].try_number))
            elif ti.state is T.RUNNING and failures.get(tid, 0) >= ti.try_number:
                state, next_try_at, _ = failure_outcome(spec.tasks[tid], ti, now, "boom")
                run = finish(run, tid, state, now, next_try_at)
            elif ti.state is T.RUNNING:
                run = finish(run, tid, T.SUCCESS, now)
        runs = [run]
        if run.state is R.SUCCESS:
            break

    assert runs[0].state is R.SUCCESS
    assert order == [("extract", 1), ("transform", 1), ("transform", 2), ("load", 1)]
    # The retry waited its 30 s delay on the fake clock.
    assert now - day > timedelta(seconds=30)


def test_a_run_that_starts_has_its_first_tasks_queued_in_the_same_pass() -> None:
    # Trigger -> first task running without a second pass; the tasks downstream wait.
    spec = build_spec("etl", tasks=("extract", "load"), edges=[("extract", "load")])
    run = make_run(spec, pk=1, state=R.QUEUED, start_date=None)

    actions = plan(snapshot(T0, [run], spec=spec))

    assert run_states(actions) == [(1, R.RUNNING)]
    assert queued_ids(actions) == [run.tasks["extract"].id]


def test_a_run_whose_start_leaves_nothing_to_do_is_marked_planned() -> None:
    spec = build_spec("etl", tasks=("extract", "load"), edges=[("extract", "load")])
    run = make_run(spec, pk=1, state=R.QUEUED, start_date=None)
    (move,) = [a for a in plan(snapshot(T0, [run], spec=spec)) if isinstance(a, SetRunState)]
    assert move.planned
    # A restarted run with a task to settle: the settling is left to the pass that follows.
    failed = make_run(
        spec, pk=2, state=R.QUEUED, start_date=None, tasks={"extract": {"state": T.FAILED}}
    )
    actions = plan(snapshot(T0, [failed], spec=spec))
    (move,) = [a for a in actions if isinstance(a, SetRunState)]
    assert not move.planned
    assert queued_ids(actions) == []
    assert not [a for a in actions if isinstance(a, SetTaskState)]
