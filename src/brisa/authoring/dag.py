"""The authoring model: DAGs and their tasks, as users write them in DAG files.

Definition mistakes raise DagDefinitionError naming the DAG file and line of the mistake.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from brisa.authoring import pods, templating
from brisa.authoring.params import Param, as_param, check_value
from brisa.core import pools
from brisa.core.graph import find_cycle
from brisa.core.spec import (
    ManualSchedule,
    ShellCommand,
    TaskBody,
    TaskSpec,
    owner_problem,
)
from brisa.core.timetable import parse_schedule
from brisa.core.trigger_rules import TriggerRule
from brisa.errors import DagDefinitionError, InvalidInput

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_location() -> tuple[str | None, int | None]:
    """File and line of the first frame outside the brisa package: the author's code."""
    frame = sys._getframe(1)
    while frame is not None:
        if not _in_package(frame.f_code.co_filename):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None, None


@functools.lru_cache(maxsize=1024)
def _in_package(filename: str) -> bool:
    """Whether code of `filename` is Brisa's own (asked for every frame of every task a DAG
    file builds: remembered per file name)."""
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def _definition_error(message: str) -> DagDefinitionError:
    filename, lineno = _caller_location()
    return DagDefinitionError(message, filename, lineno)


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _definition_error(f"{what} is not JSON-serialisable: {exc}") from None


def _seconds(value: timedelta | float | int | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise _definition_error(f"{what} must be a non-negative timedelta or number of seconds")
    return float(value)


def _pool_settings(pool: object, pool_slots: object) -> tuple[str | None, int | None]:
    """`pool=` and `pool_slots=` as written (None: not given), checked; InvalidInput says
    what is wrong."""
    if pool is not None:
        pools.check_name(pool, "pool")
    if pool_slots is not None and (
        not isinstance(pool_slots, int) or isinstance(pool_slots, bool) or pool_slots < 1
    ):
        raise InvalidInput(f"pool_slots must be a whole number >= 1, got {pool_slots!r}")
    return pool, pool_slots  # type: ignore[return-value]


def _valid_id(value: object) -> bool:
    return isinstance(value, str) and value.replace("-", "_").replace(".", "_").isidentifier()


_dag_stack: list[DAG] = []


class Task:
    """A node of a DAG. Subclasses say what runs: a Python function or a shell command."""

    kind = "abstract"

    def __init__(
        self,
        task_id: str,
        *,
        dag: DAG | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        retries: int | None = None,
        retry_delay: timedelta | float | None = None,
        retry_exponential_backoff: bool | None = None,
        max_retry_delay: timedelta | float | None = None,
        execution_timeout: timedelta | float | None = None,
        doc: str = "",
        pod: Any = None,
        pool: str | None = None,
        pool_slots: int | None = None,
        owner: str | None = None,
    ) -> None:
        self.filename, self.lineno = _caller_location()
        dag = dag or (_dag_stack[-1] if _dag_stack else None)
        if dag is None:
            raise _definition_error(
                f"task {task_id!r} is created outside a DAG; use `with DAG(...)`"
            )
        if not _valid_id(task_id):
            raise _definition_error(
                f"task id {task_id!r} must be letters, digits, '_', '-' or '.', "
                "not starting with a digit"
            )
        try:
            self.trigger_rule = TriggerRule(trigger_rule)
        except ValueError:
            known = ", ".join(r.value for r in TriggerRule)
            raise _definition_error(
                f"unknown trigger rule {trigger_rule!r}; use one of: {known}"
            ) from None
        if retries is not None and (not isinstance(retries, int) or retries < 0):
            raise _definition_error(f"retries must be a non-negative integer, got {retries!r}")
        try:
            self.pod = pods.settings(pod)
            self.pool, self.pool_slots = _pool_settings(pool, pool_slots)
        except InvalidInput as exc:
            raise self._error(f"task {task_id!r}: {exc}") from None
        self.task_id = task_id
        self.dag = dag
        self.retries = retries
        self.retry_delay = _seconds(retry_delay, "retry_delay")
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = _seconds(max_retry_delay, "max_retry_delay")
        self.execution_timeout = _seconds(execution_timeout, "execution_timeout")
        self.doc = doc
        self.upstream_ids: set[str] = set()
        dag.add_task(self)

    # Dependencies: a >> b, a >> [b, c], [a, b] >> c, a << b.
    def set_downstream(self, other: Task | Iterable[Task]) -> None:
        for t in [other] if isinstance(other, Task) else list(other):
            if not isinstance(t, Task):
                raise _definition_error(f"cannot make {t!r} depend on a task: it is not a task")
            if t.dag is not self.dag:
                raise _definition_error(f"{self.task_id} and {t.task_id} belong to different DAGs")
            t.upstream_ids.add(self.task_id)

    def set_upstream(self, other: Task | Iterable[Task]) -> None:
        for t in [other] if isinstance(other, Task) else list(other):
            t.set_downstream(self)

    def __rshift__(self, other: Task | Iterable[Task]) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Task | Iterable[Task]) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Iterable[Task]) -> Task:
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Iterable[Task]) -> Task:
        self.set_downstream(other)
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id}>"

    def _error(self, message: str) -> DagDefinitionError:
        return DagDefinitionError(message, self.filename, self.lineno)

    def to_spec(self) -> TaskSpec:
        return TaskSpec(
            task_id=self.task_id,
            body=self.body(),
            upstream=tuple(sorted(self.upstream_ids)),
            trigger_rule=self.trigger_rule,
            retries=self.retries if self.retries is not None else self.dag.retries,
            retry_delay=self.retry_delay if self.retry_delay is not None else self.dag.retry_delay,
            retry_exponential_backoff=(
                self.retry_exponential_backoff
                if self.retry_exponential_backoff is not None
                else self.dag.retry_exponential_backoff
            ),
            max_retry_delay=self.max_retry_delay
            if self.max_retry_delay is not None
            else self.dag.max_retry_delay,
            execution_timeout=self.execution_timeout
            if self.execution_timeout is not None
            else self.dag.execution_timeout,
            doc=self.doc,
            lineno=self.lineno,
            pod=pods.effective(self.dag.pod, self.pod),
            pool=self.pool or self.dag.pool,
            pool_slots=self.pool_slots or self.dag.pool_slots or 1,
        )

    def body(self) -> TaskBody:
        """What this kind of task runs, as stored in its spec."""
        raise NotImplementedError


class ShellTask(Task):
    """Runs a shell command, templated with `{{ params.x | shquote }}`, `{{ ds }}`, ...

    Its return value is the last line the command printed on stdout.
    """

    kind = "shell"

    def __init__(
        self,
        task_id: str,
        command: str,
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(task_id, **options)
        if not isinstance(command, str) or not command.strip():
            raise DagDefinitionError(
                f"shell task {task_id!r} needs a non-empty command string",
                self.filename,
                self.lineno,
            )
        if env is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise DagDefinitionError(
                f"env of shell task {task_id!r} must map strings to strings",
                self.filename,
                self.lineno,
            )
        problems = templating.shell_errors(command)  # params come from whoever triggers
        if problems:
            raise DagDefinitionError(
                f"shell task {task_id!r}: {problems[0]}", self.filename, self.lineno
            )
        self.command = command
        self.env = dict(env or {})
        self.cwd = cwd

    def body(self) -> ShellCommand:
        return ShellCommand(self.command, dict(self.env), self.cwd)


def shell(task_id: str, command: str, **options: Any) -> ShellTask:
    """A task that runs `command` with /bin/sh (templated with the run's params and dates)."""
    return ShellTask(task_id, command, **options)


_collector: list[list[DAG]] = []


class DAG:
    """A workflow: tasks, their dependencies, when it runs, and how it retries."""

    def __init__(
        self,
        dag_id: str,
        *,
        schedule: str | timedelta | None = None,
        timezone: str = "UTC",
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        params: dict[str, Any] | None = None,
        retries: int = 0,
        retry_delay: timedelta | float = timedelta(seconds=30),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        execution_timeout: timedelta | float | None = None,
        dagrun_timeout: timedelta | float | None = None,
        max_active_runs: int = 16,
        max_active_tasks: int = 16,
        tags: Iterable[str] = (),
        description: str = "",
        pod: Any = None,
        pool: str | None = None,
        pool_slots: int | None = None,
        owner: str | None = None,
    ) -> None:
        self.filename, self.lineno = _caller_location()
        if not _valid_id(dag_id):
            raise self._error(f"DAG id {dag_id!r} must be letters, digits, '_', '-' or '.'")
        self.dag_id = dag_id
        try:
            self.schedule = parse_schedule(schedule, timezone)
            self.params = {name: as_param(p) for name, p in (params or {}).items()}
            self.pod = pods.settings(pod)  # defaults for its tasks' pods
            # Defaults for its tasks: the pool they take slots of (None: the team's default
            # pool) and how many slots each takes.
            self.pool, self.pool_slots = _pool_settings(pool, pool_slots)
        except InvalidInput as exc:
            raise self._error(str(exc)) from None
        self._check_params()
        if not isinstance(self.schedule, ManualSchedule) and start_date is None:
            raise self._error("a scheduled DAG needs a start_date")
        self.timezone = timezone
        self.start_date = self._aware(start_date)
        self.end_date = self._aware(end_date)
        self.catchup = bool(catchup)
        for name, value in (
            ("retries", retries),
            ("max_active_runs", max_active_runs),
            ("max_active_tasks", max_active_tasks),
        ):
            if not isinstance(value, int) or value < (0 if name == "retries" else 1):
                raise self._error(f"{name} must be an integer >= {0 if name == 'retries' else 1}")
        self.retries = retries
        self.retry_delay = _seconds(retry_delay, "retry_delay") or 0.0
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = _seconds(max_retry_delay, "max_retry_delay")
        self.execution_timeout = _seconds(execution_timeout, "execution_timeout")
        self.dagrun_timeout = _seconds(dagrun_timeout, "dagrun_timeout")
        self.max_active_runs = max_active_runs
        self.max_active_tasks = max_active_tasks
        # A bare string is one tag, not the set of its letters.
        self.tags = sorted({tags} if isinstance(tags, str) else set(tags))
        self.description = description
        if owner is not None and (problem := owner_problem(owner)):
            raise self._error(problem)
        self.owner = owner  # who answers for it (None: nobody named)
        self.tasks: dict[str, Task] = {}
        if _collector:
            _collector[-1].append(self)

    def _check_params(self) -> None:
        """Defaults must be JSON and pass their own checks; scheduled runs need them all."""
        for name, p in self.params.items():
            if p.required:
                if not isinstance(self.schedule, ManualSchedule):
                    raise self._error(
                        f"param {name!r} has no default, but scheduled runs need one: "
                        "give it a default or make the DAG manual (schedule=None)"
                    )
                continue
            _check_json(p.default, f"default of param {name!r}")
            try:
                check_value(name, p.default, p.to_spec())
            except InvalidInput as exc:
                raise self._error(f"default does not fit its own declaration: {exc}") from None

    def _error(self, message: str) -> DagDefinitionError:
        return DagDefinitionError(message, self.filename, self.lineno)

    def _aware(self, value: datetime | None) -> datetime | None:
        """Naive datetimes are read in the DAG's time zone; everything is stored in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            from zoneinfo import ZoneInfo

            value = value.replace(tzinfo=ZoneInfo(self.timezone))
        return value.astimezone(UTC)

    def __enter__(self) -> DAG:
        _dag_stack.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _dag_stack.pop()

    def add_task(self, t: Task) -> None:
        if t.task_id in self.tasks:
            raise DagDefinitionError(
                f"duplicate task id {t.task_id!r} in DAG {self.dag_id!r} "
                f"(first defined at line {self.tasks[t.task_id].lineno})",
                t.filename,
                t.lineno,
            )
        self.tasks[t.task_id] = t

    def unique_task_id(self, base: str) -> str:
        if base not in self.tasks:
            return base
        n = 2
        while f"{base}__{n}" in self.tasks:
            n += 1
        return f"{base}__{n}"

    def validate(self) -> None:
        """Check the whole graph; raises DagDefinitionError on a cycle or an empty DAG."""
        if not self.tasks:
            raise self._error(f"DAG {self.dag_id!r} has no tasks")
        cycle = find_cycle({tid: t.upstream_ids for tid, t in self.tasks.items()})
        if cycle:
            raise self._error(f"DAG {self.dag_id!r} has a cycle: {' -> '.join(cycle)}")

    def __repr__(self) -> str:
        return f"<DAG {self.dag_id}>"


class collecting:  # used as a context manager like a function, hence the lowercase name
    """Collect every DAG created while a DAG file is imported."""

    def __enter__(self) -> list[DAG]:
        _collector.append([])
        return _collector[-1]

    def __exit__(self, *exc_info: object) -> None:
        _collector.pop()


# Python tasks live in their own module, built on Task; re-exported as before.
from brisa.authoring.python import PythonTask, TaskFunction, task  # noqa: E402

__all__ = [
    "DAG",
    "Param",
    "PythonTask",
    "ShellTask",
    "Task",
    "TaskFunction",
    "TriggerRule",
    "shell",
    "task",
]
