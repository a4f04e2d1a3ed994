"""The right-hand panel of the DAG page, by selection: the DAG's details, a run (tabs Overview,
Gantt, Graph, Params, Events; UI.md A.2.6) or one task of a run (its attempts, why it waits
and its history).
Each function returns the values its template (`dag/panel.html`) shows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from brisa.control.dagview import DagViews, RunView, require_task
from brisa.control.history import EventFilter, EventPage, History
from brisa.control.queries import Scope
from brisa.core.records import RunRecord
from brisa.core.spec import DagSpec
from brisa.core.states import FINISHED_TASK_STATES, TaskState
from brisa.errors import InvalidInput
from brisa.web.api.app import ApiContext
from brisa.web.ui import gantt
from brisa.web.ui.templating import prefs_of

RUN_TABS = ("overview", "gantt", "graph", "params", "events")
MAX_EVENT_ID = 2**63 - 1
FAILED = frozenset({"failed", "upstream_failed"})
STATES = tuple(s.value for s in TaskState)


def dag_panel(views: DagViews, scope: Scope, team: str, dag_id: str) -> dict[str, Any]:
    return {"kind": "dag", "spec": views.latest_spec(scope, team, dag_id)}


def progress(run: RunRecord) -> dict[str, int]:
    """ "N/M done, F failed, R running" of a run (UI.md A.2.6)."""
    counts = Counter(ti.state.value for ti in run.tasks.values())
    done = sum(n for s, n in counts.items() if s in FINISHED_TASK_STATES)
    failed = counts["failed"] + counts["upstream_failed"]
    return {"done": done, "total": len(run.tasks), "failed": failed, "running": counts["running"]}


def params_view(run: RunRecord, spec: DagSpec | None) -> list[dict[str, Any]]:
    """Each conf value, marked when it differs from its param's default."""
    params = spec.params if spec else {}
    out = []
    for name, value in run.conf.items():
        param = params.get(name)
        default = param.default if param and not param.required else None
        given = param is None or param.required or value != default
        out.append({"name": name, "value": value, "default": default, "given": given})
    return out


def _state_filter(request: Request) -> tuple[str, bool]:
    state = request.query_params.get("state", "")
    if state and state not in STATES:
        raise InvalidInput(f"unknown task state {state!r}; use one of {', '.join(STATES)}")
    return state, request.query_params.get("only_failed", "") in ("1", "true", "on")


def event_filter(request: Request) -> EventFilter:
    """The Events tab's filters from the query string (the REST endpoint's names)."""
    q = request.query_params
    before = q.get("before", "").strip()
    if before and (not before.isdigit() or not 1 <= int(before) <= MAX_EVENT_ID):
        raise InvalidInput(f"before must be an event id (a positive whole number), not {before!r}")
    return EventFilter(
        task_id=q.get("task_id", "")[:250],
        actor=q.get("actor", "")[:20],
        state=q.get("state", "")[:20],
        before=int(before) if before else None,
    )


def run_panel(
    request: Request,
    history: History,
    views: DagViews,
    scope: Scope,
    team: str,
    dag_id: str,
    run_id: str,
) -> dict[str, Any]:
    view = views.run(scope, team, dag_id, run_id)
    tab = request.query_params.get("tab", "overview") or "overview"
    if tab not in RUN_TABS:
        raise InvalidInput(f"tab must be one of {', '.join(RUN_TABS)}, not {tab!r}")
    state, only_failed = _state_filter(request)
    tasks = list(view.run.tasks.values())
    if state:
        tasks = [t for t in tasks if t.state.value == state]
    if only_failed:
        tasks = [t for t in tasks if t.state.value in FAILED]
    events: EventPage | None = None
    if tab == "events":
        events = history.of(view.run, event_filter(request))
    chart = None
    if tab == "gantt":
        chart = gantt.chart(
            list(view.run.tasks), view.attempts, prefs_of(request).tz, datetime.now(UTC)
        )
    return {
        "kind": "run",
        "run": view.run,
        "view": view,
        "tab": tab,
        "tasks": tasks,
        "state": state,
        "only_failed": only_failed,
        "progress": progress(view.run),
        "chart": chart,
        "events": events,
        "states": STATES,
        "params": params_view(view.run, view.spec),
        "spec": view.spec,
        "dag_tz": _dag_zone(view.spec),
    }


def why_waiting(view: RunView, task_id: str) -> list[dict[str, Any]]:
    """For a task that has not finished: its upstream tasks' states under its trigger rule
    (empty when the run's version does not know the task)."""
    spec = view.spec
    if spec is None or task_id not in spec.tasks:
        return []
    return [
        {"task_id": up, "state": view.run.tasks[up].state.value if up in view.run.tasks else None}
        for up in spec.tasks[task_id].upstream
    ]


def upstream_pending(view: RunView, task_id: str) -> bool:
    """Whether an upstream task of `task_id` has not finished (then it waits for that)."""
    return any(up["state"] not in FINISHED_TASK_STATES for up in why_waiting(view, task_id))


def task_panel(
    ctx: ApiContext,
    views: DagViews,
    scope: Scope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
) -> dict[str, Any]:
    view = views.run(scope, team, dag_id, run_id)
    require_task(view, task_id)
    detail = ctx.queries.task(scope, team, dag_id, run_id, task_id)
    spec = view.spec.tasks.get(task_id) if view.spec else None
    waiting = detail.record.state.value not in FINISHED_TASK_STATES
    return {
        "kind": "task",
        "run": view.run,
        "task": detail.record,
        "attempts": list(reversed(detail.attempts)),
        "task_spec": spec,
        "upstream": why_waiting(view, task_id) if waiting else [],
        "waiting": waiting,
        "history": ctx.queries.history.of(view.run, EventFilter(task_id=task_id)),
        # Ready, but its pool has no slot for it (or does not exist): why, with what to do,
        # and the attempts holding the slots; or its DAG runs as many tasks as it allows.
        "pool_wait": ctx.queries.pools.ready_wait(view.run, view.spec, task_id)
        if waiting
        else None,
        "limit_note": ctx.attempts.task_limit(view.run, view.spec)
        if detail.record.state in (TaskState.PENDING, TaskState.UP_FOR_RETRY)
        and not upstream_pending(view, task_id)
        else None,
    }


def _dag_zone(spec: DagSpec | None) -> str:
    zone = getattr(spec.schedule, "timezone", "") if spec else ""
    return zone or "UTC"
