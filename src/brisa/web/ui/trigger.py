"""The trigger form (UI.md A.4.1): `/teams/{t}/dags/{d}/trigger?from_run=&conf=`, its inline
checks, its Form ⇄ JSON switch and its submit. The form's data lives in `web.ui.triggerform`;
the run is created by the same command as the REST API's, with an idempotency key per opened
form so a double click makes one run."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from brisa.core.paramspec import ParamSpec
from brisa.core.records import DagRecord
from brisa.core.spec import ManualSchedule
from brisa.errors import BrisaError, Conflict, InvalidInput, NotFound
from brisa.web.ui import triggerform
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.templating import prefs_of, render

router = APIRouter(include_in_schema=False)
PAGE = "/teams/{team}/dags/{dag_id}/trigger"
FRAGMENT = "/_" + PAGE
MAX_FIELD = 100_000  # characters of one submitted value that are read


@dataclass
class FormState:
    """What one rendering of the form shows."""

    raws: dict[str, str | None]
    errors: dict[str, str] = field(default_factory=dict)
    mode: str = "form"
    json_text: str = ""
    json_error: str = ""
    failure: str = ""
    notice: str = ""
    run_id: str = ""
    logical_date: str = ""  # as typed, in the display zone
    note: str = ""
    # Problems of the run id, logical date and note, by field name, shown next to the field.
    field_errors: dict[str, str] = field(default_factory=dict)
    unpause: bool = True
    submitted: bool = False  # answering a submit (not a tab switch): problems go on top
    key: str = field(default_factory=lambda: secrets.token_urlsafe(16))


@router.get(PAGE, response_class=HTMLResponse)
def trigger_page(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    from_run: Annotated[str, Query(max_length=250)] = "",
    conf: Annotated[str, Query(max_length=MAX_FIELD)] = "",
) -> Response:
    dag = ctx.queries.dag(scope, team, dag_id).record
    zone = prefs_of(request).tz
    given: dict[str, Any] = {}
    notice = ""
    if from_run:
        try:
            given = dict(ctx.queries.run(scope, team, dag_id, from_run).conf)
            notice = (
                f"Filled in from run {from_run}; values that differ from the defaults are marked."
            )
        except NotFound:
            notice = f"There is no run {from_run} of this DAG; the form shows the defaults."
    if conf:
        try:
            given.update(triggerform.conf_from_text(dag.spec.params, conf))
        except ValueError as exc:
            notice = f"The conf in the link was not used: {exc}"
    state = FormState(raws=triggerform.raws_from_conf(dag.spec.params, given, zone), notice=notice)
    return _page(request, dag, state)


@router.post(FRAGMENT + "/validate", response_class=HTMLResponse)
async def validate_field(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str
) -> Response:
    """One field's error slot, checked when the user leaves the field."""
    form = await _form(request)
    dag = await run_in_threadpool(ctx.queries.dag, scope, team, dag_id)
    specs = dag.record.spec.params
    name = form.get("field", "")
    if name not in specs:
        raise InvalidInput(f"this DAG has no param {name!r}")
    error = triggerform.check_one(
        specs, name, form.get(triggerform.PREFIX + name), prefs_of(request).tz
    )
    index = list(specs).index(name)
    return render(request, "trigger/error_slot.html", slot_id=f"param-{index}-error", error=error)


@router.post(FRAGMENT + "/mode", response_class=HTMLResponse)
async def switch_mode(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str
) -> Response:
    """Form ⇄ JSON: the other tab, carrying every value; invalid JSON stays on the JSON tab."""
    form = await _form(request)
    dag = (await run_in_threadpool(ctx.queries.dag, scope, team, dag_id)).record
    state = _state_of(form, dag.spec.params, request)
    if form.get("to") == "json" and state.mode == "form":
        state.json_text = triggerform.conf_text(dag.spec.params, state.raws, prefs_of(request).tz)
        state.mode = "json"
    elif form.get("to") == "form" and state.mode == "json":
        _json_to_form(state, dag.spec.params, request)
    return _fragment(request, dag, state)


@router.post(FRAGMENT, response_class=HTMLResponse)
async def submit(request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str) -> Response:
    """Create the run, then go to its page; any problem re-renders the form with every value
    kept and nothing created."""
    form = await _form(request)
    dag = (await run_in_threadpool(ctx.queries.dag, scope, team, dag_id)).record
    specs = dag.spec.params
    state = _state_of(form, specs, request)
    state.submitted = True
    conf = _conf_of(state, specs, request)
    logical = _run_fields(state, prefs_of(request).tz, ctx.commands.trigger_problems)
    if state.errors or state.json_error or state.field_errors:
        return _fragment(request, dag, state)
    try:
        run = await run_in_threadpool(
            lambda: ctx.commands.trigger(
                scope,
                team,
                dag_id,
                conf=conf,
                run_id=state.run_id or None,
                logical_date=logical,
                note=state.note or None,
                idempotency_key=state.key,
            )
        )
        if dag.is_paused and state.unpause:
            await run_in_threadpool(ctx.commands.pause, scope, team, dag_id, False)
    except Conflict as exc:  # the run id exists
        state.field_errors["run_id"] = str(exc)
        return _fragment(request, dag, state)
    except BrisaError as exc:
        state.failure = str(exc)
        return _fragment(request, dag, state)
    url = "/" + "/".join(
        quote(p, safe="") for p in ("teams", team, "dags", dag_id, "runs", run.run_id)
    )
    return Response(status_code=200, headers={"HX-Redirect": url})


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v[:MAX_FIELD] for k, v in data.items() if isinstance(v, str)}


def _state_of(
    form: Mapping[str, str], specs: Mapping[str, ParamSpec], request: Request
) -> FormState:
    mode = "json" if form.get("mode") == "json" else "form"
    state = FormState(
        raws=triggerform.raws_from_form(specs, form),
        mode=mode,
        json_text=form.get("conf_json", ""),
        run_id=form.get("run_id", "").strip(),
        logical_date=form.get("logical_date", "").strip(),
        note=form.get("note", "").strip(),
        unpause=form.get("unpause") is not None,
    )
    state.key = form.get("idempotency_key", "") or state.key
    return state


def _run_fields(state: FormState, zone: ZoneInfo, problems: Any) -> datetime | None:
    """The logical date typed (read in `zone`), with the problems of the run id, logical
    date and note put in `state.field_errors` (the command's own checks, `problems`)."""
    logical = None
    if state.logical_date:
        try:
            logical = datetime.fromisoformat(state.logical_date)
        except ValueError:
            state.field_errors["logical_date"] = (
                f"{state.logical_date!r} is not a date and time like 2026-03-01T09:00"
            )
        else:
            logical = logical if logical.tzinfo else logical.replace(tzinfo=zone)
    state.field_errors.update(
        problems(run_id=state.run_id or None, logical_date=logical, note=state.note or None)
    )
    return logical


def _json_to_form(state: FormState, specs: Mapping[str, ParamSpec], request: Request) -> None:
    try:
        conf = triggerform.conf_from_text(specs, state.json_text)
    except ValueError as exc:
        state.json_error = str(exc)
        return
    state.raws = triggerform.raws_from_conf(specs, conf, prefs_of(request).tz)
    state.mode = "form"


def _conf_of(state: FormState, specs: Mapping[str, ParamSpec], request: Request) -> dict[str, Any]:
    """The conf to trigger with; fills `state.errors` (or `json_error`) when it is not valid."""
    zone = prefs_of(request).tz
    if state.mode == "form":
        conf, state.errors = triggerform.read(specs, state.raws, zone)
        return conf
    try:
        conf = triggerform.conf_from_text(specs, state.json_text)
    except ValueError as exc:
        state.json_error = str(exc)
        return {}
    state.raws = triggerform.raws_from_conf(specs, conf, zone)
    _, state.errors = triggerform.read(specs, state.raws, zone)
    return conf


def _values(request: Request, dag: DagRecord, state: FormState) -> dict[str, Any]:
    specs = dag.spec.params
    zone = prefs_of(request).tz
    parts = triggerform.sections(specs, state.raws, state.errors, zone)
    fields = [f for s in parts for f in s.fields]
    return {
        "dag": dag,
        "state": state,
        "sections": parts,
        "summary": [f for f in fields if f.error],
        "scheduled": not isinstance(dag.spec.schedule, ManualSchedule),
        "base": FRAGMENT.format(team=quote(dag.team, safe=""), dag_id=quote(dag.dag_id, safe="")),
        "conf_json": json.dumps,
    }


def _page(request: Request, dag: DagRecord, state: FormState) -> Response:
    return render(request, "trigger/page.html", **_values(request, dag, state))


def _fragment(request: Request, dag: DagRecord, state: FormState) -> Response:
    return render(request, "trigger/form.html", **_values(request, dag, state))
