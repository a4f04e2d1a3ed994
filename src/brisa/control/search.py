"""Runs and task instances across DAGs (`/runs`, `/task-instances`): filters read from a query
string, checked, and turned into one keyset-paged statement (never OFFSET, so a deep page
costs what the first does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from brisa.core.states import RunState, TaskState
from brisa.errors import InvalidInput
from brisa.store.listing import RunBrief, RunFilter, TaskBrief, TaskFilter

MAX_LIMIT = 200
RUN_TYPES = ("scheduled", "manual")
RUN_STATES = tuple(s.value for s in RunState)
TASK_STATES = tuple(s.value for s in TaskState)
RUN_FIELDS = ("team", "dag", "run", "state", "run_type", "from", "to", "limit", "after")
TASK_FIELDS = ("team", "dag", "run", "task", "state", "try_gt", "queued_before", "limit", "after")

T = TypeVar("T")


@dataclass(frozen=True)
class Found(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _states(raw: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    states = tuple(s for s in (p.strip() for p in raw.split(",")) if s)
    for state in states:
        if state not in known:
            raise InvalidInput(f"unknown {what} state {state!r}; use one of {', '.join(known)}")
    return states


def _int(raw: str, name: str, low: int = 0, high: int = 2**62) -> int | None:
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}, not {value}")
    return value


def parse_time(raw: str, name: str) -> datetime | None:
    """An ISO 8601 date or time; without an offset it is UTC."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date or time such as 2026-03-01T09:00Z, not {raw!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _teams(scope_teams: frozenset[str] | None, team: str) -> frozenset[str] | None:
    """The teams to search: the one asked for if visible (an invisible one finds nothing, as
    if it did not exist), else every visible team."""
    if not team:
        return scope_teams
    if scope_teams is not None and team not in scope_teams:
        return frozenset()
    return frozenset({team})


def limit_of(params: Mapping[str, str]) -> int:
    return _int(params.get("limit", ""), "limit", 1, MAX_LIMIT) or 50


def run_filter(params: Mapping[str, str], scope_teams: frozenset[str] | None) -> RunFilter:
    run_type = params.get("run_type", "")
    if run_type and run_type not in RUN_TYPES:
        raise InvalidInput(f"unknown run_type {run_type!r}; use one of {', '.join(RUN_TYPES)}")
    return RunFilter(
        teams=_teams(scope_teams, params.get("team", "")),
        dag_id=params.get("dag") or None,
        run_id=params.get("run") or None,
        states=_states(params.get("state", ""), RUN_STATES, "run"),
        run_type=run_type or None,
        since=parse_time(params.get("from", ""), "from"),
        until=parse_time(params.get("to", ""), "to"),
        before_id=_int(params.get("after", ""), "after"),
    )


def task_filter(params: Mapping[str, str], scope_teams: frozenset[str] | None) -> TaskFilter:
    return TaskFilter(
        teams=_teams(scope_teams, params.get("team", "")),
        dag_id=params.get("dag") or None,
        run_id=params.get("run") or None,
        task_id=params.get("task") or None,
        states=_states(params.get("state", ""), TASK_STATES, "task"),
        try_gt=_int(params.get("try_gt", ""), "try_gt"),
        queued_before=parse_time(params.get("queued_before", ""), "queued_before"),
        before_id=_int(params.get("after", ""), "after"),
    )


def page_of(found: list[T], limit: int, last_id: int | None) -> Found[T]:
    """The first `limit` of `found` (read with one more, to know whether a page follows)."""
    more = len(found) > limit
    return Found(found[:limit], str(last_id) if more and last_id is not None else None)


def run_cursor(items: list[RunBrief], limit: int) -> int | None:
    return items[limit - 1].id if len(items) > limit else None


def task_cursor(items: list[TaskBrief], limit: int) -> int | None:
    return items[limit - 1].id if len(items) > limit else None
