"""The pure pool rules: names and sizes, what the planner queues into a pool, why a task
waits, and how a resize changes a pool's slot rows."""

from __future__ import annotations

import pytest
from planner_builders import T0, build_spec, make_run, snapshot

from brisa import DAG, shell
from brisa.core.planner import QueueTask, plan
from brisa.core.pools import (
    DEFAULT_POOL,
    Pool,
    PoolBook,
    PoolClaim,
    Resize,
    SlotRow,
    check_name,
    check_slots,
    pool_reason,
    ready_tasks,
    resize,
)
from brisa.core.states import TaskState
from brisa.errors import DagDefinitionError, InvalidInput

T = TaskState


def book(*pools: Pool, default_slots: int = 128) -> PoolBook:
    return PoolBook({(p.team, p.name): p for p in pools}, default_slots)


def queued(actions: list[object]) -> list[tuple[int, PoolClaim | None]]:
    return [(a.ti_id, a.pool) for a in actions if isinstance(a, QueueTask)]


def test_the_planner_queues_no_more_than_a_pools_free_slots() -> None:
    spec = build_spec(tasks=("a", "b", "c", "d"), pool="gpu")
    run = make_run(spec)
    gpu = Pool("data", "gpu", slots=3, used=1)
    got = queued(plan(snapshot(T0, [run], spec=spec, pools=book(gpu))))
    assert got == [(100, PoolClaim("data", "gpu")), (101, PoolClaim("data", "gpu"))]


def test_a_task_of_several_slots_is_not_overtaken_by_younger_single_slot_tasks() -> None:
    spec = build_spec(
        tasks=("a", "b", "c"), task_options={"a": {"pool": "gpu", "pool_slots": 3},
                                             "b": {"pool": "gpu"}, "c": {"pool": "cpu"}}
    )  # fmt: skip
    run = make_run(spec)
    pools = book(Pool("data", "gpu", slots=4, used=2), Pool("data", "cpu", slots=1))
    # a needs 3 of the 2 free: it waits, and b (after it) does not take a slot before it;
    # another pool is not held up.
    assert queued(plan(snapshot(T0, [run], spec=spec, pools=pools))) == [
        (102, PoolClaim("data", "cpu"))
    ]


def test_tasks_that_can_never_fit_or_name_a_missing_pool_wait_without_blocking() -> None:
    spec = build_spec(
        tasks=("a", "b", "c"), task_options={"a": {"pool": "gpu", "pool_slots": 9},
                                             "b": {"pool": "nope"}, "c": {"pool": "gpu"}}
    )  # fmt: skip
    run = make_run(spec)
    pools = book(Pool("data", "gpu", slots=2))
    assert queued(plan(snapshot(T0, [run], spec=spec, pools=pools))) == [
        (102, PoolClaim("data", "gpu"))
    ]


def test_a_default_pool_not_made_yet_has_the_configured_size() -> None:
    spec = build_spec(tasks=("a", "b", "c"))
    run = make_run(spec)
    got = queued(plan(snapshot(T0, [run], spec=spec, pools=book(default_slots=2))))
    assert got == [(100, PoolClaim("data", DEFAULT_POOL)), (101, PoolClaim("data"))]


def test_a_pool_over_its_size_after_a_shrink_starts_nothing() -> None:
    spec = build_spec(tasks=("a",), pool="gpu")
    over = Pool("data", "gpu", slots=1, used=3, free=0)
    assert queued(plan(snapshot(T0, [make_run(spec)], spec=spec, pools=book(over)))) == []


def test_ready_tasks_are_those_whose_upstream_allows_them_and_due_retries() -> None:
    spec = build_spec(tasks=("a", "b", "c", "d"), edges=[("a", "b")], pool="gpu")
    run = make_run(spec, tasks={"c": T.UP_FOR_RETRY, "d": T.RUNNING})
    ready = ready_tasks([run], {1: spec}, T0)
    assert [(w.task_id, w.pool, w.slots) for w in ready] == [("a", "gpu", 1), ("c", "gpu", 1)]


@pytest.mark.parametrize(
    ("pool", "needed", "reason"),
    [
        (None, 1, "pool gpu does not exist in team data: create it with "
                  "`brisa pools set data gpu --slots N`"),
        (Pool("data", "gpu", 3, used=3), 1, "waiting for a slot in pool gpu (3 of 3 used)"),
        (Pool("data", "gpu", 3, used=2), 2, "waiting for 2 slots in pool gpu (2 of 3 used)"),
        (Pool("data", "gpu", 3), 4, "needs 4 slots of pool gpu, which has 3: give it more with "
                                    "`brisa pools set data gpu --slots 4`"),
        (Pool("data", "gpu", 3, used=2), 1, None),
    ],
)  # fmt: skip
def test_why_a_ready_task_waits_for_its_pool(pool: Pool | None, needed: int, reason: str) -> None:
    assert pool_reason("data", "gpu", pool, needed) == reason


@pytest.mark.parametrize(
    ("rows", "slots", "plan_"),
    [
        ([], 3, Resize(add=(0, 1, 2))),
        ([SlotRow(0, True), SlotRow(1, False), SlotRow(2, False)], 1, Resize(delete=(1, 2))),
        # More held than the new size: free rows go, the excess held rows retire.
        ([SlotRow(0, True), SlotRow(1, True), SlotRow(2, True), SlotRow(3, False)], 1,
         Resize(delete=(3,), retire=(1, 2))),
        # Growing again brings retired rows back before adding new ones.
        ([SlotRow(0, True), SlotRow(1, True, retired=True)], 4, Resize(add=(2, 3),
                                                                       unretire=(1,))),
        ([SlotRow(0, True), SlotRow(5, False)], 3, Resize(add=(1,))),
        ([SlotRow(0, True)], 0, Resize(retire=(0,))),
    ],
)  # fmt: skip
def test_a_resize_keeps_held_rows_and_makes_the_ordinary_rows_the_new_size(
    rows: list[SlotRow], slots: int, plan_: Resize
) -> None:
    assert resize(rows, slots) == plan_


def test_names_and_sizes_are_checked_with_what_to_do() -> None:
    assert check_name("gpu.big-1") == "gpu.big-1"
    for bad in ("", "-x", "a b", "x" * 101, 3):
        with pytest.raises(InvalidInput, match="letters, digits"):
            check_name(bad)
    with pytest.raises(InvalidInput, match="0 to 100000"):
        check_slots(-1)
    with pytest.raises(InvalidInput):
        check_slots(True)


def test_pool_slots_below_one_is_a_definition_error_with_file_and_line() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError) as caught:
        shell("t", "true", pool="gpu", pool_slots=0)
    assert "pool_slots must be a whole number >= 1, got 0" in str(caught.value)
    assert caught.value.lineno is not None and caught.value.filename == __file__
    with pytest.raises(DagDefinitionError, match="pool 'a b' is not valid"):
        DAG("e", pool="a b")


def test_a_task_takes_the_dags_pool_unless_it_names_its_own() -> None:
    spec = build_spec(
        tasks=("a", "b"), pool="gpu", pool_slots=2, task_options={"b": {"pool": "cpu"}}
    )
    assert (spec.tasks["a"].pool, spec.tasks["a"].pool_slots) == ("gpu", 2)
    assert (spec.tasks["b"].pool, spec.tasks["b"].pool_slots) == ("cpu", 2)
    plain = build_spec(tasks=("a",)).tasks["a"]
    assert (plain.pool, plain.pool_slots) == (None, 1)
    assert "pool" not in plain.to_json() and "pool_slots" not in plain.to_json()
    assert spec.tasks["a"].to_json()["pool_slots"] == 2
