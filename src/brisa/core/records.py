"""Plain, immutable records of what the store holds. No I/O here.

The store returns them, the planner decides on them, the API renders them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from brisa.core.spec import DagSpec, TaskSpec
from brisa.core.states import RunState, TaskState


@dataclass(frozen=True)
class DagRecord:
    team: str
    dag_id: str
    fileloc: str
    version_id: int
    is_active: bool
    is_paused: bool
    last_parsed_at: datetime
    spec: DagSpec
    # The commit the DAG was last published from ('' for a plain folder) and its repository.
    code_version: str = ""
    structure_hash: str = ""
    repo: str = "dags"


@dataclass(frozen=True)
class ImportErrorRecord:
    team: str
    filename: str
    lineno: int | None
    message: str
    traceback: str
    created_at: datetime  # when last seen
    repo: str = "dags"
    code_version: str = ""
    first_seen_at: datetime | None = None  # when the file was first seen failing (this time)

    @property
    def first_seen(self) -> datetime:
        return self.first_seen_at or self.created_at


@dataclass(frozen=True)
class RepoStatusRecord:
    """What the DAG processor last knew of a repository's sync."""

    name: str
    team: str
    url: str
    current_sha: str | None
    published_at: datetime | None
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    error_kind: str | None
    consecutive_failures: int
    sync_requested_at: datetime | None
    subdir: str = ""


@dataclass(frozen=True)
class TaskRecord:
    id: int
    run_pk: int
    task_id: str
    state: TaskState
    try_number: int
    retry_base: int = 0
    queued_at: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    next_try_at: datetime | None = None
    heartbeat_at: datetime | None = None
    hostname: str | None = None
    pid: int | None = None
    error: str | None = None
    # The scheduler that supervises the current try and its lease's epoch then (ADR 0019).
    owner: str | None = None
    owner_epoch: int | None = None


@dataclass(frozen=True)
class RunRecord:
    id: int
    team: str
    dag_id: str
    run_id: str
    run_type: str
    state: RunState
    version_id: int
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    conf: dict[str, Any]
    created_at: datetime
    start_date: datetime | None = None
    end_date: datetime | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    # The run is pinned to this commit of this repository ('' for a plain folder).
    repo: str = "dags"
    code_version: str = ""
    # Free text people attach to the run; read only for one run at a time (`Store.run_note`).
    note: str | None = None


@dataclass(frozen=True)
class AttemptRecord:
    ti_id: int
    try_number: int
    state: TaskState
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None
    pid: int | None
    error: str | None
    code_version: str | None = None  # the commit the try ran ("" for a folder source)


@dataclass(frozen=True)
class TransitionRecord:
    """One move of a task instance, as `task_transitions` records it: `id` orders the moves
    of one task instance (its row lock serializes them), `at` is the database's time."""

    id: int
    ti_id: int
    try_number: int
    from_state: str
    to_state: str
    actor: str
    epoch: int | None
    at: datetime
    run_pk: int = 0  # the task instance's run
    task_id: str = ""  # filled by the reads of a run's moves (`TransitionStore.run_moves`)


@dataclass(frozen=True)
class AttemptRef:
    """Identifies one try of one task instance: what a worker and its token are bound to."""

    ti_id: int
    try_number: int


@dataclass(frozen=True)
class CodeRef:
    """Where the worker finds the code a run is pinned to: a commit (`sha`) of repository
    `repo` (`subdir` inside it; `url` for a last-resort fetch of a public commit), or a
    plain folder (`path`). Never holds a credential. Empty: the worker's own DAG folder."""

    repo: str = ""
    sha: str = ""
    subdir: str = ""
    url: str = ""
    path: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "repo": self.repo,
            "sha": self.sha,
            "subdir": self.subdir,
            "url": self.url,
            "path": self.path,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> CodeRef:
        return cls(**{name: str(data.get(name) or "") for name in _CODE_FIELDS})


_CODE_FIELDS = ("repo", "sha", "subdir", "url", "path")
_DATES = ("logical_date", "data_interval_start", "data_interval_end")


@dataclass(frozen=True)
class WorkItem:
    """What the worker needs to run an attempt: the execution API's answer to its start.

    `to_json` is the wire form; `from_json` reads it on the worker, tolerating the parts an
    older API does not send (`code`, `secret_params`).
    """

    team: str
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    params: dict[str, Any]
    fileloc: str
    code_version: str
    task: TaskSpec
    upstream_values: dict[str, Any]
    # Names of the params marked secret: the worker masks their values in the log.
    secret_params: tuple[str, ...] = ()
    repo: str = "dags"
    code: CodeRef = CodeRef()

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "try_number": self.try_number,
            "logical_date": self.logical_date.isoformat(),
            "data_interval_start": self.data_interval_start.isoformat(),
            "data_interval_end": self.data_interval_end.isoformat(),
            "params": self.params,
            "fileloc": self.fileloc,
            "code_version": self.code_version,
            "task": self.task.to_json(),
            "upstream_values": self.upstream_values,
            "secret_params": list(self.secret_params),
            "repo": self.repo,
            "code": self.code.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkItem:
        dates = {name: datetime.fromisoformat(data[name]) for name in _DATES}
        return cls(
            team=data["team"],
            dag_id=data["dag_id"],
            task_id=data["task_id"],
            run_id=data["run_id"],
            try_number=data["try_number"],
            params=data["params"],
            fileloc=data["fileloc"],
            code_version=data.get("code_version") or "",
            task=TaskSpec.from_json(data["task"]),
            upstream_values=data["upstream_values"],
            secret_params=tuple(data.get("secret_params") or ()),
            repo=data.get("repo") or "dags",
            code=CodeRef.from_json(data.get("code") or {}),
            **dates,
        )


def run_id_for(kind: str, when: datetime) -> str:
    """A readable, URL-safe run id like `manual__20261124T033916.660469Z`."""
    return f"{kind}__{when.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
