"""Actions over task instances of several runs at once (UI.md A.2.9 "Bulk actions", story 54):
the task-instance search's "Clear selected". Each run is cleared by `Commands.clear`, one run
after the other (a run's clear is one transaction; the bulk is not), so the preview and the
outcome are grouped by run. Above ACK_RUNS runs or ACK_INSTANCES task instances the caller
must say it understands (`acknowledged`): the REST API and the page ask the same."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from brisa.control.clearing import ClearOptions
from brisa.control.commands import Changed, Commands
from brisa.control.queries import Scope
from brisa.errors import InvalidInput

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

    @property
    def count(self) -> int:
        return sum(len(done.changes) for done in self.runs)

    @property
    def needs_ack(self) -> bool:
        return needs_ack(len(self.runs), self.count)


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
    if preview.needs_ack and not acknowledged:
        raise InvalidInput(
            f"this clears {preview.count} task instances in {len(preview.runs)} runs: "
            "acknowledge it to go ahead"
        )
    return BulkChanged(each(False), dry_run=False)
