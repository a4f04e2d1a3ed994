"""Per-run views (`core.runview`): the planner remembers, per run record, which tasks can act;
its decisions are the same with remembered views as without, pass after pass."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

from planner_builders import T0, apply, build_spec, make_run, snapshot

from brisa.core.planner import plan
from brisa.core.records import RunRecord
from brisa.core.runview import Need, RunViews, view_of
from brisa.core.states import RunState, TaskState

T = TaskState


def test_a_view_names_only_the_tasks_that_can_act() -> None:
    spec = build_spec(tasks=("a", "b", "c", "d"), edges=[("a", "b"), ("b", "c")])
    run = make_run(spec, tasks={"a": T.SUCCESS, "b": T.FAILED, "d": T.RUNNING})
    view = view_of(run, spec)
    assert [(e.task_id, e.need) for e in view.entries] == [("c", Need.SETTLE), ("d", Need.OPEN)]
    assert (view.finished, view.open) == (False, 1)


def test_a_remembered_view_is_dropped_when_the_run_record_changes() -> None:
    spec = build_spec(tasks=("a", "b"), edges=[("a", "b")])
    views = RunViews()
    run = make_run(spec)
    assert views.of(run, spec) is views.of(run, spec)
    newer = dataclasses.replace(run, state=RunState.RUNNING)
    assert views.of(newer, spec) is not views.of(run, spec)


def test_decisions_are_the_same_with_remembered_views_pass_after_pass() -> None:
    spec = build_spec(
        tasks=[f"t{i}" for i in range(6)],
        edges=[("t0", f"t{i}") for i in range(1, 6)],
        task_options={"t3": {"trigger_rule": "all_failed"}},
    )
    runs = [make_run(spec, pk=pk, state=RunState.QUEUED, start_date=None) for pk in range(1, 9)]
    views, rng, now = RunViews(), random.Random(7), T0
    for _ in range(40):
        slots = rng.choice([0, 1, 3, 32])
        base = snapshot(now, runs, spec=spec, free_slots=slots)
        remembered = plan(dataclasses.replace(base, views=views))
        fresh = plan(base)
        assert remembered == fresh
        runs = apply(runs, remembered, now)
        runs = [_finish_some(run, rng) for run in runs]
        now += timedelta(seconds=1)
    assert all(run.state is not RunState.QUEUED for run in runs)


def _finish_some(run: RunRecord, rng: random.Random) -> RunRecord:
    tasks = {
        tid: dataclasses.replace(ti, state=rng.choice([T.SUCCESS, T.FAILED]))
        if ti.state in (T.QUEUED, T.RUNNING) and rng.random() < 0.5
        else ti
        for tid, ti in run.tasks.items()
    }
    return dataclasses.replace(run, tasks=tasks) if tasks != run.tasks else run
