"""Clear, mark and cancel (UI.md A.4.2): one `<dialog>` pattern. Opening it fetches the dialog
with a first dry run; every option change posts the dry run again (`hx-trigger="change"`) and the
preview lists what would change, grouped by run, with the count on the confirm button; the
confirm posts the same options, answers a toast and tells the page to refresh (`brisa:refresh`).
The dry runs and the actions are the control plane's commands (`dry_run=True`)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from brisa.control.clearing import ClearOptions, killed
from brisa.control.commands import Changed
from brisa.control.queries import Scope
from brisa.errors import InvalidInput, NotFound
from brisa.web.api.app import ApiContext
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.dagfmt import HELPERS
from brisa.web.ui.templating import render

router = APIRouter(include_in_schema=False)
RUN = "/_/teams/{team}/dags/{dag_id}/runs/{run_id}"
ACTIONS = ("clear", "mark", "cancel")
ON = ("1", "on", "true")
MAX_TASKS = 1000
VERBS = {"clear": "Clear", "cancel": "Cancel", "success": "Mark success", "failed": "Mark failed"}


def _options(values: Any, action: str, *, opening: bool) -> dict[str, Any]:
    """The dialog's options from a query string (opening) or a form (a change or a confirm)."""
    if action not in ACTIONS:
        raise NotFound(f"no action {action!r}; the actions are {', '.join(ACTIONS)}")
    tasks = [t[:250] for t in values.getlist("task")][:MAX_TASKS]
    state = values.get("state", "")
    if action == "mark" and state not in ("success", "failed"):
        raise InvalidInput(f"tasks can be marked success or failed, not {state!r}")
    if action != "cancel" and not tasks and not values.get("only_failed"):
        raise InvalidInput("name a task (task=...) or clear the run's failed tasks (only_failed=1)")

    def ticked(name: str, default: bool) -> bool:
        if opening and name not in values:
            return default
        return values.get(name, "") in ON

    return {
        "action": action,
        "tasks": tasks,
        "state": state,
        "downstream": ticked("downstream", True),
        "upstream": ticked("upstream", False),
        "only_failed": ticked("only_failed", False),
        "include_succeeded": ticked("include_succeeded", False),
        "commit": "latest" if values.get("commit") == "latest" else "run",
    }


def _run(
    ctx: ApiContext, scope: Scope, team: str, dag_id: str, run_id: str, opts: dict[str, Any], *,
    dry_run: bool,
) -> Changed:  # fmt: skip
    commands = ctx.commands
    if opts["action"] == "cancel":
        if dry_run:
            return commands.cancel_preview(scope, team, dag_id, run_id)
        preview = commands.cancel_preview(scope, team, dag_id, run_id)
        commands.cancel(scope, team, dag_id, run_id)
        return preview
    tasks = opts["tasks"] or list(ctx.queries.run(scope, team, dag_id, run_id).tasks)
    if opts["action"] == "mark":
        return commands.mark(scope, team, dag_id, run_id, tasks, opts["state"], dry_run=dry_run)
    options = ClearOptions(
        opts["downstream"],
        opts["upstream"],
        opts["only_failed"],
        opts["include_succeeded"],
        opts["commit"],
    )
    return commands.clear(
        scope, team, dag_id, run_id, tasks, downstream=False, options=options, dry_run=dry_run
    )


def _verb(opts: dict[str, Any]) -> str:
    return VERBS[opts["state"] if opts["action"] == "mark" else opts["action"]]


def _values(
    request: Request, team: str, dag_id: str, run_id: str, opts: dict[str, Any], done: Changed
) -> dict[str, Any]:
    base = f"/teams/{team}/dags/{dag_id}/runs/{run_id}"
    return {
        **HELPERS,
        "opts": opts,
        "done": done,
        "killed": killed(done.changes),
        "verb": _verb(opts),
        "post": f"/_{base}/actions/{opts['action']}",
        "run_href": base,
        "team": team,
        "dag_id": dag_id,
    }


@router.get(RUN + "/actions/{action}", response_class=HTMLResponse)
def open_dialog(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str, action: str
) -> Response:
    opts = _options(request.query_params, action, opening=True)
    done = _run(ctx, scope, team, dag_id, run_id, opts, dry_run=True)
    values = _values(request, team, dag_id, run_id, opts, done)
    return render(request, "dag/dialog.html", **values)


@router.post(RUN + "/actions/{action}/preview", response_class=HTMLResponse)
async def preview(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str, action: str
) -> Response:
    opts = _options(await request.form(), action, opening=False)
    done = await run_in_threadpool(_run, ctx, scope, team, dag_id, run_id, opts, dry_run=True)
    values = _values(request, team, dag_id, run_id, opts, done)
    return render(request, "dag/preview.html", **values)


@router.post(RUN + "/actions/{action}", response_class=HTMLResponse)
async def confirm(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str, action: str
) -> Response:
    opts = _options(await request.form(), action, opening=False)
    done = await run_in_threadpool(_run, ctx, scope, team, dag_id, run_id, opts, dry_run=False)
    values = _values(request, team, dag_id, run_id, opts, done)
    response = render(request, "dag/toast.html", **values)
    response.headers["HX-Trigger"] = json.dumps({"brisa:refresh": {"run": run_id}})
    return response
