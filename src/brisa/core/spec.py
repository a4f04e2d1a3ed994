"""Serialized DAGs: the only form of a DAG the scheduler and the API ever see.

A spec is stored as plain JSON. `DagSpec.from_json` reads it into frozen, typed parts and
`to_json` writes back exactly the JSON it read (same keys in the same order, same values),
so a spec read and written again keeps its structure version: the hash of its canonical
JSON. This module is the only one that knows the JSON keys of a spec.

A task's kind-specific part is its `body`: one frozen class per kind (`PythonCall`,
`ShellCommand`, `ContainerRun`), chosen by the JSON's `kind`. A new kind is a new body class in
`_BODIES`. Pod settings (`brisa.core.pod`) are stored under "pod" only when a task has some,
and its pool under "pool" / "pool_slots" only when not the default (`brisa.core.pools`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

from brisa.core.paramspec import ParamSpec
from brisa.core.pod import PodSettings
from brisa.core.trigger_rules import TriggerRule

SPEC_FORMAT = 1
OWNER_MAX = 100  # characters of a DAG's owner


def owner_problem(value: object) -> str | None:
    """What is wrong with `value` as a DAG's owner (None: nothing): a name of 1 to
    `OWNER_MAX` letters, digits, spaces or `. _ - @`, not starting or ending with a space."""
    if not isinstance(value, str):
        return f"owner must be a string such as 'data-eng', got {type(value).__name__}"
    if not value or value != value.strip() or len(value) > OWNER_MAX:
        return f"owner must be 1 to {OWNER_MAX} characters without outer spaces, got {value!r}"
    if not all(c.isalnum() or c in " ._-@" for c in value):
        return f"owner may hold letters, digits, spaces and . _ - @ only, got {value!r}"
    return None


Json = dict[str, Any]


def canonical_json(spec: Mapping[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _without_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_lines(v) for k, v in value.items() if k != "lineno"}
    if isinstance(value, list):
        return [_without_lines(v) for v in value]
    return value


def structure_version(spec: Mapping[str, Any]) -> str:
    """Hash of the DAG's structure; line numbers are left out so that editing a comment
    does not make a new version."""
    return hashlib.sha256(canonical_json(_without_lines(spec)).encode()).hexdigest()[:16]


def _freeze(obj: object, name: str) -> None:
    """Make a mapping field read-only: decoded specs are cached and shared between threads."""
    value = getattr(obj, name)
    if not isinstance(value, MappingProxyType):
        object.__setattr__(obj, name, MappingProxyType(dict(value)))


# --- schedules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManualSchedule:
    """Runs only when triggered."""

    kind: ClassVar[str] = "manual"

    def to_json(self) -> Json:
        return {"kind": self.kind}


@dataclass(frozen=True)
class IntervalSchedule:
    """Runs every `seconds`, counted from the start date."""

    seconds: float
    kind: ClassVar[str] = "interval"

    def to_json(self) -> Json:
        return {"kind": self.kind, "seconds": self.seconds}


@dataclass(frozen=True)
class CronSchedule:
    """Runs at the fire times of a 5-field cron expression in an IANA time zone."""

    expr: str
    timezone: str
    kind: ClassVar[str] = "cron"

    def to_json(self) -> Json:
        return {"kind": self.kind, "expr": self.expr, "timezone": self.timezone}


ScheduleSpec = ManualSchedule | IntervalSchedule | CronSchedule


def schedule_from_json(data: Mapping[str, Any]) -> ScheduleSpec:
    kind = data["kind"]
    if kind == ManualSchedule.kind:
        return ManualSchedule()
    if kind == IntervalSchedule.kind:
        return IntervalSchedule(data["seconds"])
    if kind == CronSchedule.kind:
        return CronSchedule(data["expr"], data["timezone"])
    raise ValueError(f"unknown schedule kind {kind!r}")


# --- task bodies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """An argument of a Python task, in one of three shapes:

    {"value": <JSON>}                 a plain value, given as it is
    {"ref": "extract"}                the return value of task `extract`
    {"refs": ["a", "b"]}              a list of return values, in that order
    {"refs": {"left": "a", ...}}      a dict of return values, by key
    """

    ref: str | None = None
    refs: tuple[str, ...] | Mapping[str, str] | None = None
    value: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.refs, Mapping):
            _freeze(self, "refs")
        elif self.refs is not None:
            object.__setattr__(self, "refs", tuple(self.refs))

    def task_ids(self) -> list[str]:
        """The tasks whose return values this argument takes."""
        if self.ref is not None:
            return [self.ref]
        if isinstance(self.refs, Mapping):
            return list(self.refs.values())
        return list(self.refs or ())

    def resolve(self, upstream: Mapping[str, Any]) -> Any:
        """The argument's value, with `upstream` the return values by task id (a missing one,
        e.g. of an upstream task that was skipped, is None)."""
        if self.ref is not None:
            return upstream.get(self.ref)
        if isinstance(self.refs, Mapping):
            return {key: upstream.get(task_id) for key, task_id in self.refs.items()}
        if self.refs is not None:
            return [upstream.get(task_id) for task_id in self.refs]
        return self.value

    def to_json(self) -> Json:
        if self.ref is not None:
            return {"ref": self.ref}
        if isinstance(self.refs, Mapping):
            return {"refs": dict(self.refs)}
        if self.refs is not None:
            return {"refs": list(self.refs)}
        return {"value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Binding:
        if "ref" in data:
            return cls(ref=data["ref"])
        if "refs" in data:
            refs = data["refs"]
            return cls(refs=dict(refs) if isinstance(refs, Mapping) else tuple(refs))
        return cls(value=data["value"])


@dataclass(frozen=True)
class PythonCall:
    """Calls `function` (found by task id in the DAG file) with bound arguments."""

    function: str
    args: tuple[Binding, ...] = ()
    kwargs: Mapping[str, Binding] = field(default_factory=dict)
    kind: ClassVar[str] = "python"

    def __post_init__(self) -> None:
        _freeze(self, "kwargs")

    def refs(self) -> set[str]:
        """The upstream tasks whose return values this call receives."""
        bindings = [*self.args, *self.kwargs.values()]
        return {task_id for b in bindings for task_id in b.task_ids()}

    def to_json(self) -> Json:
        return {
            "function": self.function,
            "args": [b.to_json() for b in self.args],
            "kwargs": {k: b.to_json() for k, b in self.kwargs.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PythonCall:
        return cls(
            function=data["function"],
            args=tuple(Binding.from_json(b) for b in data["args"]),
            kwargs={k: Binding.from_json(b) for k, b in data["kwargs"].items()},
        )


@dataclass(frozen=True)
class ShellCommand:
    """Runs `command` with /bin/sh; command and env values are templated."""

    command: str
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    kind: ClassVar[str] = "shell"

    def __post_init__(self) -> None:
        _freeze(self, "env")

    def refs(self) -> set[str]:
        return set()

    def to_json(self) -> Json:
        return {"command": self.command, "env": dict(self.env), "cwd": self.cwd}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShellCommand:
        return cls(command=data["command"], env=dict(data["env"]), cwd=data["cwd"])


@dataclass(frozen=True)
class ContainerRun:
    """Runs `image` with `command` (its entrypoint when empty) and `args`, under the Kubernetes
    executor only; command, args and env values are templated like a shell task's."""

    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    kind: ClassVar[str] = "container"

    def __post_init__(self) -> None:
        _freeze(self, "env")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "args", tuple(self.args))

    def refs(self) -> set[str]:
        return set()

    def to_json(self) -> Json:
        return {
            "image": self.image,
            "command": list(self.command),
            "args": list(self.args),
            "env": dict(self.env),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerRun:
        return cls(data["image"], tuple(data["command"]), tuple(data["args"]), dict(data["env"]))


TaskBody = PythonCall | ShellCommand | ContainerRun

_BODIES: dict[str, Callable[[Mapping[str, Any]], TaskBody]] = {
    PythonCall.kind: PythonCall.from_json,
    ShellCommand.kind: ShellCommand.from_json,
    ContainerRun.kind: ContainerRun.from_json,
}


# --- tasks and DAGs --------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """A task as the scheduler and the worker see it: what it waits for, how it retries,
    and its kind-specific `body`."""

    task_id: str
    body: TaskBody
    upstream: tuple[str, ...] = ()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    retries: int = 0
    retry_delay: float = 0.0
    retry_exponential_backoff: bool = False
    max_retry_delay: float | None = None
    execution_timeout: float | None = None
    doc: str = ""
    lineno: int | None = None
    pod: PodSettings | None = None
    # The pool it takes `pool_slots` slots of while queued or running (None: its team's
    # default pool). Stored only when set, so older specs keep their structure version.
    pool: str | None = None
    pool_slots: int = 1

    @property
    def kind(self) -> str:
        return self.body.kind

    def to_json(self) -> Json:
        pod = {"pod": self.pod.to_json()} if self.pod is not None else {}
        pool: Json = {"pool": self.pool} if self.pool is not None else {}
        if self.pool_slots != 1:
            pool["pool_slots"] = self.pool_slots
        return {
            "task_id": self.task_id,
            "kind": self.body.kind,
            "upstream": list(self.upstream),
            "trigger_rule": self.trigger_rule.value,
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "retry_exponential_backoff": self.retry_exponential_backoff,
            "max_retry_delay": self.max_retry_delay,
            "execution_timeout": self.execution_timeout,
            "doc": self.doc,
            "lineno": self.lineno,
            **self.body.to_json(),
            **pool,
            **pod,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskSpec:
        body = _BODIES.get(data["kind"])
        if body is None:
            raise ValueError(f"task {data['task_id']!r} has an unknown kind {data['kind']!r}")
        return cls(
            task_id=data["task_id"],
            body=body(data),
            upstream=tuple(data["upstream"]),
            trigger_rule=TriggerRule(data["trigger_rule"]),
            retries=data["retries"],
            retry_delay=data["retry_delay"],
            retry_exponential_backoff=data["retry_exponential_backoff"],
            max_retry_delay=data["max_retry_delay"],
            execution_timeout=data["execution_timeout"],
            doc=data["doc"],
            lineno=data["lineno"],
            pod=PodSettings.from_json(data["pod"]) if "pod" in data else None,
            pool=data.get("pool"),
            pool_slots=data.get("pool_slots", 1),
        )


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class DagSpec:
    """A serialized DAG, read-only, for the scheduler, the API and the worker.

    `tasks` and `params` keep the order of the JSON (sorted by id and name).
    """

    dag_id: str
    fileloc: str
    lineno: int | None
    description: str
    schedule: ScheduleSpec
    start_date: datetime | None
    end_date: datetime | None
    catchup: bool
    params: Mapping[str, ParamSpec]
    max_active_runs: int
    max_active_tasks: int
    dagrun_timeout: float | None
    tags: tuple[str, ...]
    tasks: Mapping[str, TaskSpec]
    format: int = SPEC_FORMAT
    # Who answers for it (a team or person's name): stored under "owner" only when set, so
    # older specs keep their structure version.
    owner: str | None = None

    def __post_init__(self) -> None:
        _freeze(self, "params")
        _freeze(self, "tasks")

    def to_json(self) -> Json:
        return {
            "format": self.format,
            "dag_id": self.dag_id,
            "fileloc": self.fileloc,
            "lineno": self.lineno,
            "description": self.description,
            "schedule": self.schedule.to_json(),
            "start_date": _iso(self.start_date),
            "end_date": _iso(self.end_date),
            "catchup": self.catchup,
            "params": {name: p.to_json() for name, p in self.params.items()},
            "max_active_runs": self.max_active_runs,
            "max_active_tasks": self.max_active_tasks,
            "dagrun_timeout": self.dagrun_timeout,
            "tags": list(self.tags),
            **({"owner": self.owner} if self.owner is not None else {}),
            "tasks": [t.to_json() for t in self.tasks.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DagSpec:
        tasks = [TaskSpec.from_json(t) for t in data["tasks"]]
        return cls(
            format=data["format"],
            dag_id=data["dag_id"],
            fileloc=data["fileloc"],
            lineno=data["lineno"],
            description=data["description"],
            schedule=schedule_from_json(data["schedule"]),
            start_date=_date(data["start_date"]),
            end_date=_date(data["end_date"]),
            catchup=data["catchup"],
            params={name: ParamSpec.from_json(p) for name, p in data["params"].items()},
            max_active_runs=data["max_active_runs"],
            max_active_tasks=data["max_active_tasks"],
            dagrun_timeout=data["dagrun_timeout"],
            tags=tuple(data["tags"]),
            tasks={t.task_id: t for t in tasks},
            owner=data.get("owner"),
        )

    def structure_version(self) -> str:
        return structure_version(self.to_json())

    def param_defaults(self) -> dict[str, Any]:
        """The params that have a default, with it: the conf of a scheduled run."""
        return {name: p.default for name, p in self.params.items() if not p.required}

    def secret_params(self) -> tuple[str, ...]:
        """Names of the params marked secret, sorted: the worker masks their values."""
        return tuple(sorted(name for name, p in self.params.items() if p.secret))

    def downstream(self) -> dict[str, set[str]]:
        down: dict[str, set[str]] = {tid: set() for tid in self.tasks}
        for tid, t in self.tasks.items():
            for up in t.upstream:
                down[up].add(tid)
        return down

    def descendants(self, task_ids: set[str]) -> set[str]:
        down = self.downstream()
        seen: set[str] = set()
        stack = list(task_ids)
        while stack:
            for child in down[stack.pop()]:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen
