"""Run and task lifecycles as data: one enum each, one transition table, one function.

The tables are the single source of truth: the store guards every SQL update with the
expected current state, and `docs/states.md` is generated from them.
"""

from __future__ import annotations

from enum import StrEnum

from brisa.errors import IllegalTransition


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskState(StrEnum):
    PENDING = "pending"  # waiting for upstream tasks
    QUEUED = "queued"  # handed to the executor, worker not started yet
    RUNNING = "running"
    UP_FOR_RETRY = "up_for_retry"
    SUCCESS = "success"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


R, T = RunState, TaskState

RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    R.QUEUED: frozenset({R.RUNNING, R.CANCELLED, R.FAILED, R.SUCCESS}),
    R.RUNNING: frozenset({R.SUCCESS, R.FAILED, R.CANCELLED}),
    # Clearing or marking a task of a finished run brings it back to life.
    R.SUCCESS: frozenset({R.RUNNING, R.FAILED}),
    R.FAILED: frozenset({R.RUNNING, R.SUCCESS}),
    R.CANCELLED: frozenset({R.RUNNING}),
}

_DONE = frozenset({T.SUCCESS, T.FAILED, T.UPSTREAM_FAILED, T.SKIPPED, T.CANCELLED})
# What an operator may mark a task as by hand.
MARK_TARGETS = frozenset({T.SUCCESS, T.FAILED})

TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    T.PENDING: frozenset({T.QUEUED, T.UPSTREAM_FAILED, T.SKIPPED, T.CANCELLED}) | MARK_TARGETS,
    T.QUEUED: frozenset({T.RUNNING, T.UP_FOR_RETRY, T.CANCELLED, T.PENDING}) | MARK_TARGETS,
    # A running task can be cleared (pending again): its worker is stopped.
    T.RUNNING: frozenset({T.UP_FOR_RETRY, T.CANCELLED, T.PENDING}) | MARK_TARGETS,
    T.UP_FOR_RETRY: frozenset({T.QUEUED, T.CANCELLED, T.PENDING}) | MARK_TARGETS,
    # Finished tasks can be cleared (back to pending) or marked.
    T.SUCCESS: frozenset({T.PENDING, T.FAILED}),
    T.FAILED: frozenset({T.PENDING, T.SUCCESS}),
    T.UPSTREAM_FAILED: frozenset({T.PENDING}) | MARK_TARGETS,
    T.SKIPPED: frozenset({T.PENDING}) | MARK_TARGETS,
    T.CANCELLED: frozenset({T.PENDING}) | MARK_TARGETS,
}

# Named sets for reading and validating. A guarded move takes its allowed sources from the
# tables above (task_sources / run_sources); a set here may narrow them, never widen them.
FINISHED_RUN_STATES = frozenset({R.SUCCESS, R.FAILED, R.CANCELLED})
ACTIVE_RUN_STATES = frozenset({R.QUEUED, R.RUNNING})  # runs the scheduler still drives
FINISHED_TASK_STATES = _DONE
ACTIVE_TASK_STATES = frozenset({T.QUEUED, T.RUNNING})  # a task whose attempt is still open
ATTEMPT_OUTCOMES = _DONE | {T.UP_FOR_RETRY}  # the states that close an attempt


def run_transition(current: RunState, new: RunState) -> RunState:
    """Return `new` if a run may move from `current` to it, else raise IllegalTransition."""
    if new not in RUN_TRANSITIONS[current]:
        raise IllegalTransition(f"a run cannot go from {current} to {new}")
    return new


def task_transition(current: TaskState, new: TaskState) -> TaskState:
    """Return `new` if a task may move from `current` to it, else raise IllegalTransition."""
    if new not in TASK_TRANSITIONS[current]:
        raise IllegalTransition(f"a task cannot go from {current} to {new}")
    return new


def task_sources(new: TaskState) -> frozenset[TaskState]:
    """The states a task may be in for a move to `new` (used to guard SQL updates)."""
    return frozenset(s for s, targets in TASK_TRANSITIONS.items() if new in targets)


def run_sources(new: RunState) -> frozenset[RunState]:
    """The states a run may be in for a move to `new` (used to guard SQL updates)."""
    return frozenset(s for s, targets in RUN_TRANSITIONS.items() if new in targets)


def mermaid_diagram() -> str:
    """The state diagrams of both lifecycles, for docs/states.md."""
    lines = ["## Runs", "", "```mermaid", "stateDiagram-v2"]
    lines += [f"    {a} --> {b}" for a, bs in RUN_TRANSITIONS.items() for b in sorted(bs)]
    lines += ["```", "", "## Tasks", "", "```mermaid", "stateDiagram-v2"]
    lines += [f"    {a} --> {b}" for a, bs in TASK_TRANSITIONS.items() for b in sorted(bs)]
    lines += ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m brisa.core.states > docs/states.md
    print("# Run and task lifecycles\n")
    print(
        "Generated from `brisa/core/states.py` by `python -m brisa.core.states > docs/states.md`;"
    )
    print("a test fails when the tables change and this file is not regenerated.\n")
    print(mermaid_diagram())
