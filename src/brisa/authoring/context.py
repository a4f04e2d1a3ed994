"""What a running task knows about itself: run id, dates, params, try number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TaskContext:
    team: str
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    params: dict[str, Any] = field(default_factory=dict)
    code_version: str | None = None

    @property
    def ds(self) -> str:
        """The logical date as YYYY-MM-DD, the usual partition key."""
        return self.logical_date.strftime("%Y-%m-%d")

    def template_vars(self) -> dict[str, Any]:
        """The names a shell command template may use."""
        return {
            "team": self.team,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "try_number": self.try_number,
            "ds": self.ds,
            "logical_date": self.logical_date.isoformat(),
            "data_interval_start": self.data_interval_start.isoformat(),
            "data_interval_end": self.data_interval_end.isoformat(),
            "params": self.params,
        }


_current: list[TaskContext] = []


def get_current_context() -> TaskContext:
    """The context of the task running in this process; only valid inside a task."""
    if not _current:
        raise RuntimeError("get_current_context() is only available while a task runs")
    return _current[-1]


def push_context(ctx: TaskContext) -> None:
    _current.append(ctx)


def pop_context() -> None:
    _current.pop()
