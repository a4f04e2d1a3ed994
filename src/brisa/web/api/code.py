"""REST: the code of a DAG at a commit (the snapshot's files and one file's text), a file's
bytes, and the comparison of two commits."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from brisa.control.code import Comparison, SourceFile
from brisa.errors import InvalidInput
from brisa.web.api import models
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, responses

router = APIRouter(prefix="/api/v1/teams/{team}/dags/{dag_id}/code", route_class=StrictJsonRoute)
Commit = Annotated[str, Query(max_length=40, pattern=r"^[0-9a-f]*$")]
FilePath = Annotated[str, Query(max_length=1000)]
_RANGE = re.compile(r"^([0-9a-f]{40})\.\.([0-9a-f]{40})$")


def parse_range(text: str) -> tuple[str, str]:
    """`<sha1>..<sha2>` as its two commits."""
    found = _RANGE.match(text)
    if found is None:
        raise InvalidInput(f"compare={text[:100]!r}: write two full commit SHAs as <sha1>..<sha2>")
    return found.group(1), found.group(2)


def comparison(found: Comparison) -> dict[str, Any]:
    return {"old": found.old, "new": found.new, "files": found.files, "diff": found.diff,
            "changes": found.changes}  # fmt: skip


@router.get("", response_model=None, responses=responses(models.CodeView, *READ, 404))
def code(
    ctx: Ctx, scope: CallerScope, team: str, dag_id: str, commit: Commit = "", path: FilePath = ""
) -> dict[str, Any]:
    snap = ctx.code.snapshot(scope, team, dag_id, commit)
    shown: SourceFile = ctx.code.file(scope, team, dag_id, snap.sha, path or snap.dag_file)
    return {
        "repo": snap.repo,
        "commit": snap.sha or None,
        "dag_file": snap.dag_file,
        "files": snap.files,
        "path": shown.path,
        "size": shown.size,
        "text": shown.text,
    }


@router.get(
    "/raw",
    response_model=None,
    response_class=Response,
    responses={
        **responses(None, *READ, 404),
        200: {
            "description": "The file's bytes at that commit",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        },
    },
)
def raw_file(
    ctx: Ctx, scope: CallerScope, team: str, dag_id: str, commit: Commit = "", path: FilePath = ""
) -> Response:
    shown = ctx.code.file(scope, team, dag_id, commit, path)
    name = shown.path.rsplit("/", 1)[-1].replace('"', "")
    return Response(
        shown.data or b"",
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/compare", response_model=None, responses=responses(models.CodeComparison, *READ, 404))
def compare(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    commits: Annotated[str, Query(alias="compare", max_length=90)],
) -> dict[str, Any]:
    old, new = parse_range(commits)
    return comparison(ctx.code.compare(scope, team, dag_id, old, new))
