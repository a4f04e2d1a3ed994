"""Who is asking, and what they may see: the one function every page and fragment takes its
team scope from. Today every caller sees every team (there are no users yet); when users,
teams and roles land, they plug in here and in `web.api.app.caller_scope`, which this reuses.
A DAG, run or log of a team the caller cannot see answers 404, like one that does not exist
(the control plane's `Scope.require`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from brisa.control.queries import Scope
from brisa.web.api.app import ApiContext, caller_scope, context


def scope_of(request: Request) -> Scope:
    return caller_scope(request)


UiScope = Annotated[Scope, Depends(scope_of)]
UiCtx = Annotated[ApiContext, Depends(context)]
