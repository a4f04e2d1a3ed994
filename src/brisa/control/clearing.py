"""Which task instances a clear, a mark or a cancel would change, and to what: the dry run the
clear/mark/cancel dialog previews (UI.md A.4.2) and the REST API answers with `?dry_run=true`.
The command then changes exactly the instances its dry run listed. Pure: runs and specs in,
changes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from brisa.core.records import DagRecord, RunRecord
from brisa.core.states import (
    ACTIVE_TASK_STATES,
    FINISHED_TASK_STATES,
    MARK_TARGETS,
    TASK_TRANSITIONS,
    TaskState,
)
from brisa.errors import InvalidInput

FAILED_STATES = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})


@dataclass(frozen=True)
class Change:
    """One task instance that would move from `state` to `new_state`."""

    task_id: str
    state: TaskState
    new_state: TaskState
    try_number: int


@dataclass(frozen=True)
class ClearOptions:
    """The clear dialog's options (UI.md A.4.2). `include_succeeded` applies to the tasks
    reached through downstream/upstream, never to the tasks named."""

    downstream: bool = False
    upstream: bool = False
    only_failed: bool = False
    include_succeeded: bool = True
    # "run": the run's own commit (default); "latest": the DAG's latest commit, the run being
    # re-pinned to it (see `commit_choice`).
    commit: str = "run"


def known_tasks(run: RunRecord, task_ids: Iterable[str]) -> set[str]:
    ids = set(task_ids)
    if not ids:
        raise InvalidInput("name at least one task")
    unknown = sorted(ids - set(run.tasks))
    if unknown:
        raise InvalidInput(
            f"run {run.run_id} has no task(s) {', '.join(unknown)}; "
            f"its tasks are: {', '.join(sorted(run.tasks))}"
        )
    return ids


def _related(
    upstream: Mapping[str, Iterable[str]], named: set[str], options: ClearOptions
) -> set[str]:
    """The tasks reached from `named` through the options' directions, in the run's DAG."""
    down: dict[str, set[str]] = {tid: set() for tid in upstream}
    for tid, ups in upstream.items():
        for up in ups:
            down.setdefault(up, set()).add(tid)
    found: set[str] = set()
    for edges, wanted in ((down, options.downstream), (upstream, options.upstream)):
        if not wanted:
            continue
        stack = [t for t in named if t in upstream]
        while stack:
            for nxt in edges.get(stack.pop(), ()):
                if nxt not in found and nxt not in named:
                    found.add(nxt)
                    stack.append(nxt)
    return found


def plan_clear(
    run: RunRecord,
    upstream: Mapping[str, Iterable[str]],
    task_ids: Iterable[str],
    options: ClearOptions,
) -> list[Change]:
    """What clearing `task_ids` of `run` changes. `upstream`: each task's upstream tasks in the
    run's DAG version. Tasks that cannot go back to pending (already pending) are left out."""
    named = known_tasks(run, task_ids)
    related = {t for t in _related(upstream, named, options) if t in run.tasks}
    if not options.include_succeeded:
        related = {t for t in related if run.tasks[t].state != TaskState.SUCCESS}
    chosen = named | related
    if options.only_failed:
        chosen = {t for t in chosen if run.tasks[t].state in FAILED_STATES}
    return _changes(run, chosen, TaskState.PENDING)


def plan_mark(
    run: RunRecord,
    task_ids: Iterable[str],
    state: str,
    upstream: Mapping[str, Iterable[str]] | None = None,
) -> list[Change]:
    """What marking `task_ids` as `state` (success or failed) changes. Marking success also
    puts their upstream_failed descendants back to pending, so they run after it (UI.md
    A.4.2's follow-up; `upstream`: the run's DAG edges, as for `plan_clear`)."""
    try:
        target = TaskState(state)
    except ValueError:
        target = None
    if target not in MARK_TARGETS:
        raise InvalidInput(f"tasks can be marked success or failed, not {state!r}")
    assert target is not None
    named = known_tasks(run, task_ids)
    marks = _changes(run, named, target)
    if target is not TaskState.SUCCESS or not upstream:
        return marks
    below = _related(upstream, named, ClearOptions(downstream=True))
    stuck = {t for t in below if t in run.tasks and run.tasks[t].state == TaskState.UPSTREAM_FAILED}
    return marks + _changes(run, stuck, TaskState.PENDING)


def plan_cancel(run: RunRecord) -> list[Change]:
    """What cancelling `run` changes: every unfinished task ends cancelled; those queued or
    running have a worker that is stopped."""
    unfinished = {t for t, ti in run.tasks.items() if ti.state not in FINISHED_TASK_STATES}
    return _changes(run, unfinished, TaskState.CANCELLED)


def killed(changes: Iterable[Change]) -> list[Change]:
    """The changes that stop a worker (the task's attempt is queued or running)."""
    return [c for c in changes if c.state in ACTIVE_TASK_STATES]


def _changes(run: RunRecord, task_ids: Iterable[str], target: TaskState) -> list[Change]:
    order = list(run.tasks)
    out = []
    for tid in sorted(task_ids, key=order.index):
        ti = run.tasks[tid]
        if ti.state != target and target in TASK_TRANSITIONS[ti.state]:
            out.append(Change(tid, ti.state, target, ti.try_number))
    return out


COMMITS = ("run", "latest")


@dataclass(frozen=True)
class CommitChoice:
    """The commits a clear of a run may run on: the run's own (`run_commit`), and the DAG's
    latest (`latest`, its version `latest_version`) when it differs; `unavailable` says why
    the latest one cannot be used for this run (None when it can)."""

    run_commit: str
    latest: str | None = None
    latest_version: int | None = None
    unavailable: str | None = None


def commit_choice(run: RunRecord, dag: DagRecord) -> CommitChoice:
    """Whether a clear of `run` may run on `dag`'s latest commit (docs/repositories.md).

    Only for a run pinned to a git commit of the repository the DAG still comes from, and only
    when the latest commit has exactly the run's tasks: the cleared tasks run the latest
    code and definitions, the run's other tasks keep what they did."""
    choice = CommitChoice(run.code_version)
    if not run.code_version or not dag.code_version or dag.repo != run.repo:
        return choice
    if dag.version_id == run.version_id and dag.code_version == run.code_version:
        return choice
    latest = CommitChoice(run.code_version, dag.code_version, dag.version_id)
    added = sorted(set(dag.spec.tasks) - set(run.tasks))
    removed = sorted(set(run.tasks) - set(dag.spec.tasks))
    if added or removed:
        words = [f"adds {', '.join(added)}"] if added else []
        words += [f"removes {', '.join(removed)}"] if removed else []
        why = (
            f"commit {dag.code_version[:10]} {' and '.join(words)}: a run keeps its tasks, so "
            "its tasks can only re-run on its own commit; trigger a new run for the latest"
        )
        return CommitChoice(run.code_version, dag.code_version, dag.version_id, why)
    return latest
