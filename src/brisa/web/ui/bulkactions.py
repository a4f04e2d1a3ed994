"""Clear, mark success, mark failed or cancel the runs of selected task instances of several
runs from the task-instance search (UI.md A.2.9 "Bulk actions", story 54), in the one dialog
pattern of `actions.py`: opening it dry-runs the selection, every option change dry-runs it
again, the preview is grouped by run and the confirm button states the count; over 10 runs
(or 100 instances) the confirm needs the acknowledgement ticked. The work is
`control.bulk.clear`, `.mark` and `.cancel`, the REST API's too."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from brisa.control import bulk
from brisa.control.clearing import ClearOptions, killed
from brisa.errors import InvalidInput, NotFound
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.actions import ON
from brisa.web.ui.dagfmt import HELPERS
from brisa.web.ui.templating import render

router = APIRouter(include_in_schema=False)
BASE = "/_/task-instances/actions/{action}"
MAX_ID = 250
ACTIONS = ("clear", "mark", "cancel")


def _ids(value: str, size: int, what: str) -> list[str]:
    """A selected row's value: a JSON list of `size` non-empty ids, else InvalidInput."""
    try:
        parts = json.loads(value)
    except ValueError:
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != size
        or not all(isinstance(p, str) and 0 < len(p) <= MAX_ID for p in parts)
    ):
        raise InvalidInput(f"not {what}: {value[:100]!r}")
    return parts


def instance(value: str) -> bulk.Instance:
    """A selected row's value: the JSON list [team, dag_id, run_id, task_id]."""
    return bulk.Instance(*_ids(value, 4, "a task instance"))


def run_key(value: str) -> tuple[str, str, str]:
    """A selected run's value on the runs list: the JSON list [team, dag_id, run_id]."""
    team, dag_id, run_id = _ids(value, 3, "a run")
    return (team, dag_id, run_id)


def options(values: Any, action: str, *, opening: bool) -> dict[str, Any]:
    """The dialog's options from a query string (opening) or a form (a change or a confirm);
    a clear's are the defaults of a task's Clear (downstream on, the rest off); a mark's
    `state` is success or failed."""
    if action not in ACTIONS:
        raise NotFound(f"no bulk action {action!r}; the actions are {', '.join(ACTIONS)}")
    picked = [instance(v) for v in values.getlist("ti")[: bulk.MAX_INSTANCES + 1]]
    state = values.get("state", "")[:20] if action == "mark" else ""

    def ticked(name: str, default: bool) -> bool:
        return default if opening and name not in values else values.get(name, "") in ON

    return {
        "action": action,
        "state": state,
        "instances": picked,
        "downstream": ticked("downstream", True),
        "upstream": ticked("upstream", False),
        "only_failed": ticked("only_failed", False),
        "include_succeeded": ticked("include_succeeded", False),
        "acknowledge": ticked("acknowledge", False),
        "runs_picked": 0,  # runs ticked on the runs list (open_dialog), else none
    }


def _act(ctx: UiCtx, scope: UiScope, opts: dict[str, Any], *, dry_run: bool) -> bulk.BulkChanged:
    picked, ack = opts["instances"], opts["acknowledge"]
    if opts["action"] == "mark":
        return bulk.mark(ctx.commands, scope, picked, opts["state"], dry_run=dry_run,
                         acknowledged=ack)  # fmt: skip
    if opts["action"] == "cancel":
        return bulk.cancel(ctx.commands, scope, picked, dry_run=dry_run, acknowledged=ack)
    chosen = ClearOptions(
        opts["downstream"], opts["upstream"], opts["only_failed"], opts["include_succeeded"]
    )
    return bulk.clear(ctx.commands, scope, picked, chosen, dry_run=dry_run, acknowledged=ack)


VERBS = {"clear": "Clear", "mark_success": "Mark success", "mark_failed": "Mark failed",
         "cancel": "Cancel"}  # fmt: skip


def _values(opts: dict[str, Any], done: bulk.BulkChanged) -> dict[str, Any]:
    picks = [json.dumps([i.team, i.dag_id, i.run_id, i.task_id]) for i in opts["instances"]]
    stopped = [c for changed in done.runs for c in killed(changed.changes)]
    return {**HELPERS, "opts": opts, "done": done, "picks": picks, "verb": VERBS[done.action],
            "killed": stopped, "post": BASE.format(action=opts["action"])}  # fmt: skip


@router.get(BASE, response_class=HTMLResponse)
def open_dialog(request: Request, ctx: UiCtx, scope: UiScope, action: str) -> Response:
    """The dialog for the task instances ticked (`ti`), or for every task instance of the runs
    ticked on the runs list (`run`): from then on the dialog carries the instances."""
    opts = options(request.query_params, action, opening=True)
    runs = [run_key(v) for v in request.query_params.getlist("run")[: bulk.MAX_RUNS + 1]]
    if runs:
        opts["instances"] = [*opts["instances"], *bulk.of_runs(ctx.queries, scope, runs)]
        opts["runs_picked"] = len(dict.fromkeys(runs))
    done = _act(ctx, scope, opts, dry_run=True)
    return render(request, "lists/bulk_dialog.html", **_values(opts, done))


@router.post(BASE + "/preview", response_class=HTMLResponse)
async def preview(request: Request, ctx: UiCtx, scope: UiScope, action: str) -> Response:
    opts = options(await request.form(), action, opening=False)
    done = await run_in_threadpool(_act, ctx, scope, opts, dry_run=True)
    return render(request, "lists/bulk_preview.html", **_values(opts, done))


@router.post(BASE, response_class=HTMLResponse)
async def confirm(request: Request, ctx: UiCtx, scope: UiScope, action: str) -> Response:
    opts = options(await request.form(), action, opening=False)
    done = await run_in_threadpool(_act, ctx, scope, opts, dry_run=False)
    response = render(request, "lists/bulk_toast.html", **_values(opts, done))
    response.headers["HX-Trigger"] = json.dumps({"brisa:refresh": {"runs": len(done.runs)}})
    return response
