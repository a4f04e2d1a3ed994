"""REST: the effective configuration, secrets masked (what `/config` shows)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from brisa.control.config import effective
from brisa.web.api import models
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, responses

router = APIRouter(prefix="/api/v1/config", route_class=StrictJsonRoute)


@router.get("", response_model=None, responses=responses(models.ConfigList, *READ))
def get_config(ctx: Ctx, scope: CallerScope) -> dict[str, Any]:
    """Every key of the running configuration: value (secrets read "***"), source and whether
    workers receive it."""
    return {"config": [dataclasses.asdict(entry) for entry in effective(ctx.settings)]}
