"""Actions over task instances of several runs at once (UI.md A.2.9 "Bulk actions", story 54):
the task-instance search's "Clear selected", "Mark success", "Mark failed" and "Cancel runs".
Each run goes through the command a single run's action uses (`Commands.clear`, `.mark`,
`.cancel`: the team check, the guarded moves, the audit entry), one run after the other (a
run's action is one transaction; the bulk is not), so the preview and the outcome are grouped
by run. Every action first dry-runs the whole selection: an unknown or hidden run, an unknown
task or a bad state is refused before anything changes. Above ACK_RUNS runs or ACK_INSTANCES
task instances the caller must say it understands (`acknowledged`): the REST API and the page
ask the same."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from brisa.control.clearing import ClearOptions, known_tasks
from brisa.control.commands import Changed, Commands
from brisa.control.queries import Queries, Scope
from brisa.core.states import ACTIVE_RUN_STATES, MARK_TARGETS
from brisa.errors import Conflict, InvalidInput

MAX_RUNS = 100  # runs one bulk action may touch
MAX_INSTANCES = 1000  # task instances one bulk action may name
ACK_RUNS = 10
ACK_INSTANCES = 100


@dataclass(frozen=True)
class Instance:
    """A task instance named by its ids."""

    team: str
    dag_id: str
    run_id: str
    task_id: str

    @property
    def run_key(self) -> tuple[str, str, str]:
        return (self.team, self.dag_id, self.run_id)


@dataclass(frozen=True)
class BulkChanged:
    """What a bulk action changed (or, dry, would change), one `Changed` per run, in the order
    the runs were first named."""

    runs: list[Changed]
    dry_run: bool
    action: str = "clear"  # clear, mark_success, mark_failed or cancel (of the runs)

    @property
    def count(self) -> int:
        return sum(len(done.changes) for done in self.runs)

    @property
    def needs_ack(self) -> bool:
        return needs_ack(len(self.runs), self.count)

    @property
    def changing(self) -> int:
        """The runs with something to change."""
        return sum(1 for done in self.runs if done.changes)


def needs_ack(runs: int, instances: int) -> bool:
    """Whether an action this wide must be acknowledged before it is done."""
    return runs > ACK_RUNS or instances > ACK_INSTANCES


def by_run(instances: Iterable[Instance]) -> dict[tuple[str, str, str], list[str]]:
    """The task ids named in each run, runs in the order first named; InvalidInput when there
    are none or too many."""
    named = list(instances)
    if not named:
        raise InvalidInput("select at least one task instance")
    if len(named) > MAX_INSTANCES:
        raise InvalidInput(f"select at most {MAX_INSTANCES} task instances at once")
    runs: dict[tuple[str, str, str], list[str]] = {}
    for one in named:
        tasks = runs.setdefault(one.run_key, [])
        if one.task_id not in tasks:
            tasks.append(one.task_id)
    if len(runs) > MAX_RUNS:
        raise InvalidInput(f"select task instances of at most {MAX_RUNS} runs at once")
    return runs


def of_runs(queries: Queries, scope: Scope, runs: Sequence[tuple[str, str, str]]) -> list[Instance]:
    """Every task instance of the named runs (team, dag_id, run_id): what the runs list's bulk
    actions act on, through the same functions as a selection of task instances. NotFound
    for a run the caller cannot see, as for one that does not exist."""
    if len(runs) > MAX_RUNS:
        raise InvalidInput(f"select at most {MAX_RUNS} runs at once")
    found = []
    for team, dag_id, run_id in dict.fromkeys(runs):
        run = queries.run(scope, team, dag_id, run_id)
        found += [Instance(team, dag_id, run_id, task_id) for task_id in run.tasks]
    return found


def clear(
    commands: Commands,
    scope: Scope,
    instances: Sequence[Instance],
    options: ClearOptions,
    *,
    dry_run: bool,
    acknowledged: bool = False,
) -> BulkChanged:
    """Clear the named task instances (with `options`, run by run). An action wider than
    ACK_RUNS runs or ACK_INSTANCES instances is refused unless `acknowledged`."""
    runs = by_run(instances)

    def each(dry: bool) -> list[Changed]:
        return [
            commands.clear(scope, team, dag_id, run_id, tasks, downstream=False,
                           options=options, dry_run=dry)
            for (team, dag_id, run_id), tasks in runs.items()
        ]  # fmt: skip

    preview = BulkChanged(each(True), dry_run=True)
    if dry_run:
        return preview
    _check_ack(preview, "clears", acknowledged)
    return BulkChanged(each(False), dry_run=False)


def mark(
    commands: Commands,
    scope: Scope,
    instances: Sequence[Instance],
    state: str,
    *,
    dry_run: bool,
    acknowledged: bool = False,
) -> BulkChanged:
    """Mark the named task instances success or failed, run by run, as `Commands.mark` does
    for one run: marking success also puts their upstream_failed descendants back to pending,
    a queued or running task's attempt ends. Instances already in `state` are left as they
    are; Conflict when every one is. Wider than ACK_RUNS runs or ACK_INSTANCES instances:
    refused unless `acknowledged`."""
    if state not in {s.value for s in MARK_TARGETS}:
        raise InvalidInput(f"task instances can be marked success or failed, not {state!r}")
    runs = by_run(instances)
    action = f"mark_{state}"

    def each(dry: bool) -> list[Changed]:
        return [commands.mark(scope, team, dag_id, run_id, tasks, state, dry_run=dry)
                for (team, dag_id, run_id), tasks in runs.items()]  # fmt: skip

    preview = BulkChanged(each(True), dry_run=True, action=action)
    if dry_run:
        return preview
    if not preview.count:
        raise Conflict(f"nothing to mark: every selected task instance is already {state}")
    _check_ack(preview, f"marks {state}", acknowledged)
    done = []
    for ((team, dag_id, run_id), tasks), planned in zip(runs.items(), preview.runs, strict=True):
        if not planned.changes:  # already marked: nothing to do, nothing to audit
            done.append(replace(planned, dry_run=False))
            continue
        done.append(commands.mark(scope, team, dag_id, run_id, tasks, state))
    return BulkChanged(done, dry_run=False, action=action)


def cancel(
    commands: Commands,
    scope: Scope,
    instances: Sequence[Instance],
    *,
    dry_run: bool,
    acknowledged: bool = False,
) -> BulkChanged:
    """Cancel the runs of the named task instances, each as `Commands.cancel` cancels one
    run: its unfinished task instances end cancelled, their workers are stopped. Runs that
    have already finished are left as they are (their entry lists no change); Conflict when
    every one has. Wider than ACK_RUNS runs or ACK_INSTANCES instances (those that would
    end cancelled): refused unless `acknowledged`."""
    runs = by_run(instances)

    def previews() -> list[Changed]:
        found = []
        for (team, dag_id, run_id), tasks in runs.items():
            planned = commands.cancel_preview(scope, team, dag_id, run_id)
            known_tasks(planned.run, tasks)
            if planned.run.state not in ACTIVE_RUN_STATES:
                planned = replace(planned, task_ids=[], changes=[])
            found.append(planned)
        return found

    preview = BulkChanged(previews(), dry_run=True, action="cancel")
    if dry_run:
        return preview
    if not any(p.run.state in ACTIVE_RUN_STATES for p in preview.runs):
        states = ", ".join(f"{p.run.run_id} is {p.run.state}" for p in preview.runs[:5])
        raise Conflict(f"nothing to cancel: only queued or running runs can be ({states})")
    _check_ack(preview, "cancels", acknowledged)
    done = []
    for planned in preview.runs:
        run = planned.run
        if run.state not in ACTIVE_RUN_STATES:
            done.append(replace(planned, dry_run=False))
            continue
        try:
            now = commands.cancel(scope, run.team, run.dag_id, run.run_id)
        except Conflict:  # it finished meanwhile (the audit record says so): left as it is
            now = commands.cancel_preview(scope, run.team, run.dag_id, run.run_id).run
            done.append(Changed([], now))
            continue
        done.append(Changed(planned.task_ids, now, planned.changes))
    return BulkChanged(done, dry_run=False, action="cancel")


def _check_ack(preview: BulkChanged, verb: str, acknowledged: bool) -> None:
    if preview.needs_ack and not acknowledged:
        raise InvalidInput(
            f"this {verb} {preview.count} task instances in {len(preview.runs)} runs: "
            "acknowledge it to go ahead"
        )
