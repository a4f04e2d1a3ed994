"""What must hold after a chaos run, as pure functions over what was recorded.

Two witnesses: the transition record (`task_transitions`: each move of a task instance, in
id order, which is commit order per task instance) and the witness file each task appends
`run_id,task_id,try,pid,start|end` to when its code runs. The checks, Elle-style:

- at most one start (queued -> running) per (task instance, try) in the record, and at most
  one execution per (task instance, try) in the witness file;
- only moves the transition table allows, each starting where the task's previous one ended
  (a task instance is created pending);
- every task finished at the end (the driver waits a bounded time after the faults stop);
- every execution in the witness file was started in the record, and every one that ran to
  its end was recorded as a success (no result lost: the suite never kills a worker and its
  tasks never fail by themselves);
- no pool ever holds more tasks (queued or running) than its slots, replaying the record in
  id order (a sequence, so a move that saw another's commit has a higher id). Skipped when
  there are no pools.

Each check returns the violations it found; none means it holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from brisa.core.records import TransitionRecord
from brisa.core.states import FINISHED_TASK_STATES, TASK_TRANSITIONS, TaskState

# The states in which a task holds a slot of its pool.
HOLDS_SLOT = frozenset({TaskState.QUEUED, TaskState.RUNNING})


@dataclass(frozen=True)
class Execution:
    """One run of a task's code, as the task wrote it in the witness file; `finished` when
    its code also got to the end (the tasks of the suite never fail by themselves)."""

    ti_id: int
    try_number: int
    pid: int
    finished: bool = False


@dataclass(frozen=True)
class Violation:
    kind: str
    ti_id: int | None
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def parse_witness(text: str, ti_of: Mapping[tuple[str, str], int]) -> list[Execution]:
    """The executions of a witness file, whose tasks write `run_id,task_id,try,pid,start` when
    their code begins and `...,end` when it ends; `ti_of` maps (run_id, task_id) to the task
    instance. A torn line (a task killed while writing) is ignored."""
    started: dict[tuple[int, int, int], bool] = {}
    for line in text.splitlines():
        parts = line.rsplit(",", 4)
        if len(parts) != 5 or not (parts[2].isdigit() and parts[3].isdigit()):
            continue
        ti = ti_of.get((parts[0], parts[1]))
        if ti is None or parts[4] not in ("start", "end"):
            continue
        key = (ti, int(parts[2]), int(parts[3]))
        started[key] = started.get(key, False) or parts[4] == "end"
    return [Execution(*key, finished=done) for key, done in started.items()]


def double_starts(moves: Iterable[TransitionRecord]) -> list[Violation]:
    """Attempts started (queued -> running) more than once."""
    starts = Counter(
        (m.ti_id, m.try_number)
        for m in moves
        if (m.from_state, m.to_state) == (TaskState.QUEUED, TaskState.RUNNING)
    )
    return [
        Violation("double start", ti, f"task instance {ti} try {tr} started {n} times")
        for (ti, tr), n in sorted(starts.items())
        if n > 1
    ]


def double_executions(executions: Iterable[Execution]) -> list[Violation]:
    """Attempts whose code ran more than once (by the witness file)."""
    runs: dict[tuple[int, int], list[int]] = {}
    for e in executions:
        runs.setdefault((e.ti_id, e.try_number), []).append(e.pid)
    return [
        Violation("double execution", ti, f"task instance {ti} try {tr} ran in pids {pids}")
        for (ti, tr), pids in sorted(runs.items())
        if len(pids) > 1
    ]


def illegal_moves(moves: Iterable[TransitionRecord]) -> list[Violation]:
    """Moves the transition table forbids, and moves that do not start where the task's
    previous move ended."""
    found = []
    last: dict[int, str] = {}
    for m in sorted(moves, key=lambda m: m.id):
        was = last.get(m.ti_id, TaskState.PENDING)
        if m.from_state != was:
            found.append(
                Violation(
                    "broken history",
                    m.ti_id,
                    f"move {m.id} of task instance {m.ti_id} is from {m.from_state}, "
                    f"but its previous move left it {was}",
                )
            )
        if not _allowed(m.from_state, m.to_state):
            found.append(
                Violation(
                    "illegal move",
                    m.ti_id,
                    f"move {m.id}: task instance {m.ti_id} went {m.from_state} -> {m.to_state}",
                )
            )
        last[m.ti_id] = m.to_state
    return found


def _allowed(source: str, target: str) -> bool:
    try:
        return TaskState(target) in TASK_TRANSITIONS[TaskState(source)]
    except ValueError:
        return False


def unfinished(states: Mapping[int, str]) -> list[Violation]:
    """Task instances (id -> state at the end) that are not finished."""
    return [
        Violation("unfinished", ti, f"task instance {ti} is still {state}")
        for ti, state in sorted(states.items())
        if state not in FINISHED_TASK_STATES
    ]


def unrecorded_executions(
    moves: Iterable[TransitionRecord], executions: Iterable[Execution]
) -> list[Violation]:
    """Code that ran for an attempt the record never started, and code that ran to its end
    for an attempt the record did not end in success: a result was lost (no worker is ever
    killed in the suite, and its tasks never fail by themselves)."""
    started: set[tuple[int, int]] = set()
    ended: dict[tuple[int, int], TransitionRecord] = {}
    for m in sorted(moves, key=lambda m: m.id):
        if (m.from_state, m.to_state) == (TaskState.QUEUED, TaskState.RUNNING):
            started.add((m.ti_id, m.try_number))
        elif m.from_state == TaskState.RUNNING and (m.ti_id, m.try_number) not in ended:
            ended[(m.ti_id, m.try_number)] = m
    found = []
    for e in executions:
        attempt = (e.ti_id, e.try_number)
        end = ended.get(attempt)
        if attempt not in started:
            detail = f"task instance {e.ti_id} try {e.try_number} ran (pid {e.pid}) unstarted"
            found.append(Violation("unrecorded execution", e.ti_id, detail))
        elif e.finished and end is not None and end.to_state != TaskState.SUCCESS:
            detail = (
                f"task instance {e.ti_id} try {e.try_number} ran to its end (pid {e.pid}) but "
                f"{end.actor} moved it running -> {end.to_state} (move {end.id})"
            )
            found.append(Violation("lost result", e.ti_id, detail))
    return found


def pool_oversubscription(
    moves: Iterable[TransitionRecord], slots: Mapping[str, int], pool_of: Mapping[int, str]
) -> list[Violation]:
    """Moves after which a pool held more tasks than its slots. `slots`: pool -> slots;
    `pool_of`: task instance -> its pool. Nothing to check without pools."""
    found = []
    for m, pool, held in _pool_use(moves, pool_of):
        if pool in slots and held > slots[pool]:
            found.append(
                Violation(
                    "pool oversubscribed",
                    m.ti_id,
                    f"after move {m.id}, pool {pool} held {held} tasks for {slots[pool]} slots",
                )
            )
    return found


def pool_peaks(moves: Iterable[TransitionRecord], pool_of: Mapping[int, str]) -> dict[str, int]:
    """The most tasks each pool held at once: shows that the pools were full, i.e. that the
    oversubscription check had something to catch."""
    peaks: Counter[str] = Counter()
    for _, pool, held in _pool_use(moves, pool_of):
        peaks[pool] = max(peaks[pool], held)
    return dict(peaks)


def _pool_use(
    moves: Iterable[TransitionRecord], pool_of: Mapping[int, str]
) -> Iterator[tuple[TransitionRecord, str, int]]:
    """Replay the record in id order: each move of a pooled task, its pool, and how many
    tasks that pool held after it."""
    held: Counter[str] = Counter()
    for m in sorted(moves, key=lambda m: m.id):
        pool = pool_of.get(m.ti_id)
        if pool is None:
            continue
        held[pool] += (m.to_state in HOLDS_SLOT) - (m.from_state in HOLDS_SLOT)
        yield m, pool, held[pool]


def last_finish(moves: Iterable[TransitionRecord]) -> datetime | None:
    """When the last task reached the state it ended in, if finished (database time)."""
    ends: dict[int, TransitionRecord] = {}
    for m in moves:
        if m.ti_id not in ends or m.id > ends[m.ti_id].id:
            ends[m.ti_id] = m
    times = [m.at for m in ends.values() if m.to_state in FINISHED_TASK_STATES]
    return max(times, default=None)


def check(
    moves: Sequence[TransitionRecord],
    executions: Sequence[Execution],
    states: Mapping[int, str],
    *,
    slots: Mapping[str, int] | None = None,
    pool_of: Mapping[int, str] | None = None,
) -> list[Violation]:
    """Every check at once."""
    return [
        *double_starts(moves),
        *double_executions(executions),
        *illegal_moves(moves),
        *unfinished(states),
        *unrecorded_executions(moves, executions),
        *pool_oversubscription(moves, slots or {}, pool_of or {}),
    ]
