"""`brisa dags test`: run a whole DAG in this process, with no server, for DAG authors.

Tasks run one after another in topological order with the same trigger rules, context,
templating and return-value passing as a real run, but with no retries, no timeouts and
nothing stored. `run_dag` decides and reports; how a task runs is the `Executor` it is given,
so tests can run a DAG with fake tasks and a fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from brisa.authoring.context import TaskContext
from brisa.authoring.dag import DAG
from brisa.authoring.loader import LoadError, load_file
from brisa.authoring.params import resolve_conf
from brisa.authoring.serialize import serialize
from brisa.core import graph
from brisa.core.spec import DagSpec, PythonCall, ShellCommand, TaskSpec
from brisa.core.states import TaskState
from brisa.core.trigger_rules import Verdict, evaluate
from brisa.errors import NotFound
from brisa.worker.runner import Outcome, run_python, run_shell

Executor = Callable[[TaskSpec, TaskContext, dict[str, Any]], Outcome]
Clock = Callable[[], datetime]

_FINAL = {Verdict.SKIP: TaskState.SKIPPED, Verdict.UPSTREAM_FAILED: TaskState.UPSTREAM_FAILED}


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    state: TaskState
    started_at: datetime | None = None
    ended_at: datetime | None = None
    return_value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in (TaskState.SUCCESS, TaskState.SKIPPED)


@dataclass(frozen=True)
class LocalRun:
    """The run a DAG test pretends to be: a manual run at `logical_date` with `params`."""

    team: str
    dag_id: str
    run_id: str
    logical_date: datetime
    params: dict[str, Any] = field(default_factory=dict)

    def context(self, task_id: str) -> TaskContext:
        return TaskContext(
            team=self.team,
            dag_id=self.dag_id,
            task_id=task_id,
            run_id=self.run_id,
            try_number=1,
            logical_date=self.logical_date,
            data_interval_start=self.logical_date,
            data_interval_end=self.logical_date,
            params=self.params,
        )


@dataclass(frozen=True)
class Hooks:
    """Called as tasks start and end, e.g. to print progress."""

    started: Callable[[str, datetime], None] = lambda task_id, at: None
    finished: Callable[[TaskResult], None] = lambda result: None


def topological_order(tasks: Mapping[str, TaskSpec]) -> list[str]:
    """Task ids with every task after its upstream tasks; ties broken by id."""
    return graph.topological_order({tid: t.upstream for tid, t in tasks.items()})


def _as_stored(value: Any) -> Any:
    """What a downstream task would receive after the value went through the API as JSON."""
    return json.loads(json.dumps(value))


def _run_task(
    task: TaskSpec,
    results: dict[str, TaskResult],
    run: LocalRun,
    execute: Executor,
    clock: Clock,
    hooks: Hooks,
) -> TaskResult:
    tid = task.task_id
    verdict = evaluate(task.trigger_rule, [results[u].state for u in task.upstream])
    if verdict in _FINAL:
        return TaskResult(tid, _FINAL[verdict], ended_at=clock())
    # Upstream tasks all ran before this one, so the rule never says WAIT here.
    started = clock()
    hooks.started(tid, started)
    upstream = {u: results[u].return_value for u in task.upstream}
    outcome = execute(task, run.context(tid), upstream)
    state = TaskState.SUCCESS if outcome.success else TaskState.FAILED
    value = _as_stored(outcome.return_value) if outcome.success else None
    return TaskResult(tid, state, started, clock(), value, outcome.error)


def run_dag(
    spec: DagSpec,
    run: LocalRun,
    execute: Executor,
    clock: Clock,
    hooks: Hooks | None = None,
) -> list[TaskResult]:
    """Run every task of a serialized DAG once, in order; a task's failure is a result."""
    hooks = hooks or Hooks()
    results: dict[str, TaskResult] = {}
    for tid in topological_order(spec.tasks):
        results[tid] = _run_task(spec.tasks[tid], results, run, execute, clock, hooks)
        hooks.finished(results[tid])
    return list(results.values())


# --- loading the DAG from files, and running its tasks for real ---------------------------


@dataclass(frozen=True)
class LoadedDag:
    dag: DAG
    spec: DagSpec
    root: Path


def _dag_files(path: Path) -> tuple[Path, list[Path]]:
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise NotFound(f"{path} is neither a DAG folder nor a .py file")
    files = [
        f
        for f in sorted(path.rglob("*.py"))
        if not any(part.startswith((".", "_")) for part in f.relative_to(path).parts)
    ]
    return path, files


def _mentions(path: Path, dag_id: str) -> bool:
    try:
        return dag_id in path.read_text(errors="replace")
    except OSError:
        return False


def _not_found(dag_id: str, path: Path, errors: list[tuple[LoadError, bool]]) -> NotFound:
    message = f"no DAG {dag_id!r} in {path}"
    for error, mentions in errors:
        where = f"{error.filename}:{error.lineno}" if error.lineno else error.filename
        message += f"\n  {where} failed to import: {error.message}"
        if mentions:
            message += "\n" + error.traceback.rstrip()
    return NotFound(message)


def load_dag(path: Path, dag_id: str) -> LoadedDag:
    """Import DAG files (those mentioning `dag_id` first) until one defines `dag_id`."""
    root, files = _dag_files(path.absolute())
    files.sort(key=lambda f: not _mentions(f, dag_id))
    errors: list[tuple[LoadError, bool]] = []
    for file in files:
        dags, error = load_file(file, root)
        if error is not None:
            errors.append((error, _mentions(file, dag_id)))
        for dag in dags:
            if dag.dag_id == dag_id:
                return LoadedDag(dag, serialize(dag, str(file.relative_to(root))), root)
    raise _not_found(dag_id, path, errors)


def executor(dag: DAG, root: Path) -> Executor:
    """Runs tasks of `dag` in this process, the way the worker does."""

    def execute(task: TaskSpec, ctx: TaskContext, upstream: dict[str, Any]) -> Outcome:
        if isinstance(task.body, ShellCommand):
            return run_shell(task.body, ctx, root)
        fn = getattr(dag.tasks[task.task_id], "fn", None)
        if fn is None or not isinstance(task.body, PythonCall):
            return Outcome(False, error=f"dags test cannot run {task.kind} tasks")
        return run_python(fn, task.body, ctx, upstream)

    return execute


def run_local(
    path: Path, dag_id: str, conf: Any, *, team: str, clock: Clock, hooks: Hooks | None = None
) -> list[TaskResult]:
    """Load `dag_id` from `path` (folder or file), validate `conf`, run every task once."""
    loaded = load_dag(path, dag_id)
    params = resolve_conf(loaded.spec.params, conf)
    now = clock()
    run = LocalRun(team, dag_id, f"test__{now.isoformat()}", now, params)
    return run_dag(loaded.spec, run, executor(loaded.dag, loaded.root), clock, hooks)
