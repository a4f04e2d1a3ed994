"""Pools: named slot limits per team that tasks take slots of while queued or running.

Pure decisions only: names and sizes checked, what a pool looks like to the planner and to
people, which tasks wait for a slot and why, and how a resize changes a pool's slot rows.
The store claims and releases the slots themselves (`brisa.store.pools`); see
docs/adr/0020-pools.md.

A pool of N slots is N slot rows. A task claims `pool_slots` free rows in the transaction
that queues it and frees them in the transaction that moves it out of queued or running.
Shrinking a pool below what is in use marks the excess held rows *retired*: they are
deleted when released, and while any remain, a released ordinary row hands its place to one
of them, so that nothing new starts until usage is under the new size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from brisa.core import retry
from brisa.core.records import RunRecord, TaskRecord
from brisa.core.spec import DagSpec, TaskSpec
from brisa.core.states import RunState, TaskState
from brisa.core.trigger_rules import Verdict, evaluate
from brisa.errors import InvalidInput

DEFAULT_POOL = "default_pool"
# Slots of a team's default pool unless `[pools] default_slots` says otherwise.
DEFAULT_SLOTS = 128
# Slot rows are real rows: a pool larger than this is a typo, not a limit.
MAX_SLOTS = 100_000
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)

PoolKey = tuple[str, str]  # (team, pool name)


def check_name(name: object, what: str = "pool name") -> str:
    """`name` if it is a valid pool name, else InvalidInput saying what one looks like."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r} is not valid: use 1 to 100 letters, digits, '_', '-' or '.', "
            "not starting with '-' or '.'"
        )
    return name


def check_slots(slots: object) -> int:
    """`slots` if it is a valid pool size (0 holds every new task back), else InvalidInput."""
    if not isinstance(slots, int) or isinstance(slots, bool) or not 0 <= slots <= MAX_SLOTS:
        raise InvalidInput(
            f"slots must be a whole number from 0 to {MAX_SLOTS}, got {slots!r} "
            "(0 lets running tasks finish and starts no new ones)"
        )
    return slots


def check_default_slots(value: int) -> int:
    """`[pools] default_slots`, checked where the settings are loaded (ValueError)."""
    if not 1 <= value <= MAX_SLOTS:
        raise ValueError(f"must be from 1 to {MAX_SLOTS}, got {value}")
    return value


def pool_of(task: TaskSpec) -> str:
    """The pool a task takes its slots from: its own, else its team's default pool."""
    return task.pool or DEFAULT_POOL


@dataclass(frozen=True)
class PoolClaim:
    """The slots a task takes when it is queued: `slots` of pool `name` of `team`."""

    team: str
    name: str = DEFAULT_POOL
    slots: int = 1


@dataclass(frozen=True)
class Pool:
    """A pool as people and the planner see it.

    `used` counts the slots held by queued and running attempts (`queued` + `running` of
    them, when read with the tasks' states); `free` is what a new attempt may claim now,
    which is 0 while usage is over a reduced size. `configured` is False for a default pool
    at its size from the settings.
    """

    team: str
    name: str
    slots: int
    used: int = 0
    free: int | None = None
    description: str = ""
    configured: bool = True
    queued: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def open(self) -> int:
        """Slots a new attempt may take now."""
        return self.free if self.free is not None else max(0, self.slots - self.used)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_POOL


def default_pool(team: str, slots: int) -> Pool:
    """A team's default pool before anything used it (no rows yet)."""
    return Pool(team, DEFAULT_POOL, slots, configured=False)


@dataclass(frozen=True)
class PoolBook:
    """Every pool the planner may queue into: by (team, name), plus the size of a default
    pool that has no rows yet (its team never used it; the store creates it on first use)."""

    pools: Mapping[PoolKey, Pool] = field(default_factory=dict)
    default_slots: int = DEFAULT_SLOTS

    def get(self, team: str, name: str) -> Pool | None:
        found = self.pools.get((team, name))
        if found is None and name == DEFAULT_POOL:
            return default_pool(team, self.default_slots)
        return found


def pool_reason(team: str, name: str, pool: Pool | None, needed: int) -> str | None:
    """Why a ready task of `team` needing `needed` slots of pool `name` does not start, or
    None when the pool has room for it. Worded as waiting: the task has not failed."""
    if pool is None:
        return (
            f"pool {name} does not exist in team {team}: create it with "
            f"`brisa pools set {team} {name} --slots N`"
        )
    if needed > pool.slots:
        return (
            f"needs {needed} slots of pool {name}, which has {pool.slots}: give it more with "
            f"`brisa pools set {team} {name} --slots {needed}`"
        )
    if pool.open < needed:
        what = "a slot" if needed == 1 else f"{needed} slots"
        return f"waiting for {what} in pool {name} ({pool.used} of {pool.slots} used)"
    return None


class PoolBudget:
    """The slots left in each pool during one planning pass.

    A task that does not fit in a pool that could hold it blocks that pool for the rest of
    the pass: later (younger) tasks do not overtake it, so a task of several slots is not
    starved by single-slot ones. A task that can never fit (more slots than the pool has, or
    a pool that does not exist) waits without blocking anyone.
    """

    def __init__(self, book: PoolBook | None) -> None:
        self._book = book
        self._open: dict[PoolKey, int] = {}
        self._blocked: set[PoolKey] = set()

    def take(self, team: str, name: str, needed: int) -> bool:
        """Take `needed` slots of pool (team, name) if it has them; False to wait."""
        if self._book is None:
            return True  # no pools known: no pool limit (planner tests of other rules)
        key = (team, name)
        pool = self._book.get(team, name)
        if pool is None or needed > pool.slots or key in self._blocked:
            return False
        left = self._open.setdefault(key, pool.open)
        if left < needed:
            self._blocked.add(key)
            return False
        self._open[key] = left - needed
        return True


@dataclass(frozen=True)
class WaitingTask:
    """A task instance that is ready to run (its upstream allows it, or its retry is due)
    and not queued yet: it waits for a slot, or for the scheduler's next pass."""

    team: str
    dag_id: str
    run_id: str
    task_id: str
    ti_id: int
    pool: str
    slots: int
    state: TaskState


def ready_tasks(
    runs: Iterable[RunRecord], specs: Mapping[int, DagSpec], now: datetime
) -> list[WaitingTask]:
    """The tasks of running runs that are ready to be queued, oldest run first."""
    out = []
    for run in sorted(runs, key=lambda r: (r.logical_date, r.id)):
        spec = specs.get(run.version_id)
        if spec is None or run.state is not RunState.RUNNING:
            continue
        states = {tid: ti.state for tid, ti in run.tasks.items()}
        for tid, ti in sorted(run.tasks.items()):
            task = spec.tasks.get(tid)
            if task is None or not _ready(task, ti, states, now):
                continue
            out.append(
                WaitingTask(
                    run.team, run.dag_id, run.run_id, tid, ti.id, pool_of(task),
                    task.pool_slots, ti.state,
                )
            )  # fmt: skip
    return out


def _ready(task: TaskSpec, ti: TaskRecord, states: Mapping[str, TaskState], now: datetime) -> bool:
    if ti.state is TaskState.UP_FOR_RETRY:
        return retry.is_due(ti, now)
    if ti.state is not TaskState.PENDING:
        return False
    verdict = evaluate(task.trigger_rule, [states[u] for u in task.upstream if u in states])
    return verdict is Verdict.READY


# --- resizing: which slot rows to add, delete, retire ------------------------------------


@dataclass(frozen=True)
class SlotRow:
    slot_no: int
    held: bool
    retired: bool = False


@dataclass(frozen=True)
class Resize:
    """What a resize writes: rows to delete and to add (free), held rows to retire (deleted
    when released) and to bring back (`unretire`)."""

    delete: tuple[int, ...] = ()
    add: tuple[int, ...] = ()
    retire: tuple[int, ...] = ()
    unretire: tuple[int, ...] = ()


def resize(rows: Sequence[SlotRow], slots: int) -> Resize:
    """Make a pool's rows `slots` ordinary rows: every held row is kept; free rows are
    deleted or added to make up the difference, and when more are held than `slots`, the
    excess held rows are retired (the lowest slot numbers stay ordinary)."""
    held = sorted((r for r in rows if r.held), key=lambda r: r.slot_no)
    free = sorted(r.slot_no for r in rows if not r.held and not r.retired)
    dead = tuple(r.slot_no for r in rows if not r.held and r.retired)  # never left, but safe
    ordinary, excess = held[:slots], held[slots:]
    retire = tuple(r.slot_no for r in excess if not r.retired)
    unretire = tuple(r.slot_no for r in ordinary if r.retired)
    room = max(0, slots - len(held))
    if len(free) >= room:
        return Resize(dead + tuple(free[room:]), (), retire, unretire)
    taken = {r.slot_no for r in rows}
    add: list[int] = []
    number = 0
    while len(add) < room - len(free):
        if number not in taken:
            add.append(number)
        number += 1
    return Resize(dead, tuple(add), retire, unretire)
