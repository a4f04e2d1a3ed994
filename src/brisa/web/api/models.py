"""The JSON the API answers with, as pydantic models: they describe every operation's success
response and its errors in the OpenAPI document, so that clients can be generated.

`render` still builds the answers as plain dicts (no second pass over every field on the hot
path); these models describe exactly those dicts, and the API fuzzing test
(tests/e2e/test_api_fuzz.py) checks every answer of a running system against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from brisa.core.states import RunState, TaskState


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(Model):
    """Every error: a message that says what was wrong and what to do."""

    detail: str


class HealthCheck(Model):
    """One thing a health endpoint checked, and what it found."""

    name: str
    ok: bool
    detail: str


class HealthReport(Model):
    """`/health/live` and `/health/ready`: every check made; "failing" (HTTP 503) when one
    did not pass."""

    status: Literal["ok", "failing"]
    checks: list[HealthCheck]


class Health(Model):
    """`/api/v1/health`: the readiness report, with the database's backend."""

    status: Literal["ok", "failing"]
    database: Literal["sqlite", "postgresql"]
    checks: list[HealthCheck] = []


class DagTask(Model):
    task_id: str
    kind: str
    upstream: list[str]
    trigger_rule: str
    retries: int


class Dag(Model):
    team: str
    dag_id: str
    description: str
    fileloc: str
    is_paused: bool
    is_active: bool
    schedule: str
    tags: list[str]
    owner: str | None = Field(description="who answers for the DAG (`DAG(owner=...)`)")
    next_run: datetime | None
    version_id: int
    structure_hash: str
    repo: str
    code_version: str | None
    last_parsed_at: datetime | None


class DagDetail(Dag):
    spec: dict[str, Any] = Field(description="the whole serialized DAG as stored")
    params: dict[str, dict[str, Any]]
    tasks: list[DagTask]


class RunBrief(Model):
    """A run as lists show it (no conf, no tasks)."""

    team: str
    dag_id: str
    run_id: str
    run_type: Literal["scheduled", "manual"]
    state: RunState
    logical_date: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    code_version: str | None


class DagListEntry(Dag):
    last_run: RunBrief | None
    recent_runs: list[RunBrief] = Field(description="the last 14 runs, oldest first")
    import_error: bool = Field(description="whether the DAG's file currently fails to import")


class DagTabs(Model):
    all: int
    running: int
    failed: int
    paused: int
    favourites: int = Field(description="DAGs the browser starred (UI cookie); 0 over REST")


class DagList(Model):
    dags: list[DagListEntry]
    total: int = Field(description="DAGs matching every filter, over all pages")
    tabs: DagTabs = Field(description="DAGs per quick tab, matching the text and tag filters")
    next_cursor: str | None = Field(description="`after` for the next page; null on the last")


class TagList(Model):
    tags: list[str]


class OwnerList(Model):
    owners: list[str]


class ImportErrorEntry(Model):
    team: str
    filename: str
    lineno: int | None
    message: str
    traceback: str
    repo: str
    code_version: str | None
    created_at: datetime | None = Field(description="when the error was last recorded")
    first_seen: datetime | None = Field(
        description="when the file was first seen failing; kept while it still fails"
    )
    last_seen: datetime | None = Field(description="the last parse that saw the error")


class ResolvedImportError(Model):
    team: str
    repo: str
    filename: str
    resolved_in: str = Field(description="the commit whose parse no longer failed")
    resolved_at: datetime


class ImportErrorList(Model):
    import_errors: list[ImportErrorEntry]
    resolved: list[ResolvedImportError] = Field(
        description="files whose error a commit of the last 24 hours resolved"
    )


class Task(Model):
    task_id: str
    state: TaskState
    try_number: int
    start_date: datetime | None
    end_date: datetime | None
    queued_at: datetime | None
    next_try_at: datetime | None
    hostname: str | None
    error: str | None


class Attempt(Model):
    try_number: int
    state: TaskState
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None
    error: str | None
    code_version: str | None = Field(
        description="the commit this try ran (null: a folder source); a clear on the latest "
        "commit makes later tries differ from the run's first"
    )


class PodFacts(Model):
    name: str = Field(description="the pod's name")
    phase: str = Field(description="its phase: Pending, Running, ...")
    node: str = Field(description="the node it is placed on (empty: not placed yet)")
    image: str = Field(description="the image of its task container")
    events: list[str] = Field(description="its last 5 events, oldest first")


class SlotHolder(Model):
    """An attempt holding slots of a pool."""

    team: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    state: TaskState
    slots: int


class AttemptDetail(Attempt):
    pid: int | None
    max_tries: int = Field(description="tries the task may take: its retries + 1")
    current: bool = Field(description="whether this is the task's current try")
    kind: str | None = Field(
        description="the task's kind (python, shell, ...) at the run's version"
    )
    repo: str
    code_version: str | None = Field(
        description="the commit this try ran (the run's commit while it is not queued yet)"
    )
    waiting: list[str] = Field(description="why it has not started yet, in plain language")
    pod: PodFacts | None = Field(
        description="its pod while it is queued (Kubernetes executor): phase, node, image and "
        "last events; null otherwise"
    )
    held_by: list[SlotHolder] = Field(
        description="while it waits for a slot of its pool: the attempts holding the slots"
    )
    return_value: Any = Field(description="what the task returned (JSON), on its current try")


class AttemptList(Model):
    attempts: list[Attempt]


class TaskDetail(Task):
    return_value: Any = Field(description="what the task returned (JSON); null until success")
    attempts: list[Attempt]


class TaskList(Model):
    tasks: list[Task]


class Run(Model):
    team: str
    dag_id: str
    run_id: str
    run_type: Literal["scheduled", "manual"]
    state: RunState
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    conf: dict[str, Any]
    version_id: int
    repo: str
    code_version: str | None
    created_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None


class RunDetail(Run):
    note: str | None = Field(description="free text given when it was triggered")
    tasks: list[Task]


class RunList(Model):
    runs: list[Run]


class RunSearch(Model):
    runs: list[RunBrief]
    next_cursor: str | None


class TaskInstanceEntry(Model):
    task_id: str
    state: TaskState
    try_number: int
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None
    run: RunBrief


class TaskInstanceSearch(Model):
    task_instances: list[TaskInstanceEntry]
    next_cursor: str | None


class Event(Model):
    """One move of a task instance: who moved it from which state to which, when."""

    id: int = Field(description="orders events; `before` pages from here")
    task_id: str
    try_number: int
    from_state: TaskState
    to_state: TaskState
    at: datetime = Field(description="the database's time of the move")
    actor: str = Field(
        description='as recorded: "worker", "api" or "scheduler[:<host>/<pid>/<start>]"'
    )
    actor_kind: Literal["worker", "api", "scheduler", "unknown"]
    epoch: int | None = Field(description="the epoch of the scheduler's lease, when it had one")
    who: str = Field(description='in words, e.g. "scheduler host-1 (lease epoch 3)"')


class EventList(Model):
    events: list[Event] = Field(description="newest first")
    next_before: int | None = Field(description="`before` for the next page; null on the last")


class TaskChange(Model):
    state: TaskState = Field(description="the task's state now")
    new_state: TaskState = Field(description="its state after the action")


class Cleared(Model):
    cleared: list[str]
    run: RunDetail
    changes: list[TaskChange] = Field(description="each task's move, as planned")
    dry_run: bool = Field(description="true: nothing changed; `changes` is what would")
    latest_commit: str | None = Field(
        description="the DAG's latest commit when it differs from the run's (commit=latest)"
    )
    latest_unavailable: str | None = Field(
        description="why commit=latest cannot be used for this run, if it cannot"
    )


class RunChanges(Model):
    team: str
    dag_id: str
    run_id: str
    state: RunState = Field(description="the run's state (after the action, unless a dry run)")
    changes: list[TaskChange] = Field(description="each task's move, as planned")


class BulkCleared(Model):
    action: Literal["clear", "mark_success", "mark_failed", "cancel"]
    dry_run: bool = Field(description="true: nothing changed; `runs` is what would")
    count: int = Field(description="task instances that change, over every run")
    needs_acknowledge: bool = Field(
        description="whether this action, done, must carry acknowledge=true"
    )
    runs: list[RunChanges] = Field(description="one entry per run, in the order first named")


class Changed(Model):
    changed: list[str]
    run: RunDetail
    changes: list[TaskChange] = Field(description="each task's move, as planned")
    dry_run: bool = Field(description="true: nothing changed; `changes` is what would")


class LogPage(Model):
    try_number: int
    content: str
    offset: int
    next_offset: int
    finished: bool


class CodeView(Model):
    repo: str
    commit: str | None = Field(description="null for a plain folder source")
    dag_file: str = Field(description="the DAG's file, relative to the snapshot's root")
    files: list[str]
    path: str
    size: int
    text: str | None = Field(description="null for a binary or very large file: use /code/raw")


class CodeComparison(Model):
    old: str
    new: str
    files: list[str]
    diff: list[str] = Field(description="unified diff lines of the DAG's files")
    changes: list[str] | None = Field(
        description="structural changes (tasks added/removed, dependencies); null when a "
        "commit's DAG version is not known"
    )


class Repo(Model):
    name: str
    team: str
    kind: Literal["git", "folder"]
    url: str | None
    path: str | None
    ref: str | None
    subdir: str | None
    period: float
    webhook: bool
    current_sha: str | None
    published_at: datetime | None
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    error_kind: str | None
    consecutive_failures: int
    sync_requested_at: datetime | None


class RepoList(Model):
    repos: list[Repo]


class ConfigKey(Model):
    key: str
    value: str | bool | int | float | list[Any] | dict[str, Any] | None = Field(
        description='the value as configured; secrets read "***"'
    )
    source: str
    to_workers: bool


class ConfigList(Model):
    config: list[ConfigKey]


class SyncRequested(Model):
    name: str
    requested: Literal[True]
    requested_at: datetime | None


class WorkItem(Model):
    """What a worker needs to run its attempt."""

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
    task: dict[str, Any]
    upstream_values: dict[str, Any]
    secret_params: list[str]
    repo: str
    code: dict[str, str]


class Exchanged(Model):
    token: str = Field(description="the attempt's execution token (Authorization: Bearer)")


class Finished(Model):
    state: Literal["success", "up_for_retry", "failed"]


LOG_EVENT = {
    "description": "one server-sent event: a piece of the log, or `end` once the try has "
    "ended and all of its log was sent",
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["message", "end"]},
        "id": {"type": "string", "description": "the offset after this event's text"},
        "data": {
            "type": "string",
            "description": 'JSON: {"try_number", "content", "next_offset"} ("content" is '
            "left out of `end`)",
        },
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}

WHY = {
    400: "Invalid input: the message says which",
    401: "A missing or wrong token or signature",
    403: "Valid credentials that do not allow this (a pod's token for another attempt)",
    404: "The resource (or one in its path) does not exist",
    409: "A conflict with the current state",
    413: "The request body is too large",
    415: "A request that changes something must send Content-Type: application/json",
    421: "The Host header names a host this API does not answer to ([api] allowed_hosts)",
    503: "A service Brisa needs (the Kubernetes API server) cannot answer now: retry",
}


READ = (400, 421)  # what any REST read can answer besides its own errors
WRITE = (400, 413, 415, 421)  # ... and any REST request that changes something
EXECUTION = (400, 401, 404, 409, 413, 415)  # any call of the execution API


def responses(
    model: type[BaseModel] | None, *errors: int, status: int = 200, events: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an operation: its success answer and the errors it can give."""
    ok: dict[str, Any] = {"description": "Success"}
    if model is not None:
        ok["model"] = model
    if events:  # OpenAPI 3.1 reads an event stream's schema as that of each event
        ok["content"] = {"text/event-stream": {"schema": LOG_EVENT}}
    out: dict[int | str, dict[str, Any]] = {status: ok}
    for code in sorted(errors):
        out[code] = {"model": Error, "description": WHY[code]}
    return out
