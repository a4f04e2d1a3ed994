"""The Code page (UI.md A.2.10): the snapshot of a commit as a file tree with one file open
(the DAG's by default), line anchors `#L<n>`, and `?compare=<sha1>..<sha2>`: the unified diff
of the DAG's files and the structural diff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from brisa.errors import NotFound
from brisa.web.api.code import parse_range
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.templating import render

router = APIRouter(include_in_schema=False)
Commit = Annotated[str, Query(max_length=40, pattern=r"^[0-9a-f]*$")]


def tree_rows(files: list[str]) -> list[tuple[int, str, str, bool]]:
    """(depth, name, path, is_folder) rows of a sorted file list, folders before their files."""
    rows: list[tuple[int, str, str, bool]] = []
    seen: set[str] = set()
    for path in files:
        parts = path.split("/")
        for depth in range(len(parts) - 1):
            folder = "/".join(parts[: depth + 1])
            if folder not in seen:
                seen.add(folder)
                rows.append((depth, parts[depth], folder, True))
        rows.append((len(parts) - 1, parts[-1], path, False))
    return rows


def diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "d-file"
    if line.startswith("@@"):
        return "d-hunk"
    return {"+": "d-add", "-": "d-del"}.get(line[:1], "")


@router.get("/teams/{team}/dags/{dag_id}/code", response_class=HTMLResponse)
def code_page(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    commit: Commit = "",
    path: Annotated[str, Query(max_length=1000)] = "",
    compare: Annotated[str, Query(max_length=90)] = "",
) -> HTMLResponse:
    dag = ctx.queries.dag(scope, team, dag_id).record
    if compare:
        old, new = parse_range(compare)
        found = ctx.code.compare(scope, team, dag_id, old, new)
        rows = [(diff_class(line), line) for line in found.diff]
        return render(request, "code/compare.html", dag=dag, cmp=found, rows=rows)
    try:
        snap = ctx.code.snapshot(scope, team, dag_id, commit)
    except NotFound as exc:
        if "snapshot of" not in str(exc):
            raise
        return render(request, "code/page.html", dag=dag, gone=str(exc), snap=None, status_code=404)
    shown = ctx.code.file(scope, team, dag_id, snap.sha, path or snap.dag_file)
    return render(
        request,
        "code/page.html",
        dag=dag,
        gone="",
        snap=snap,
        rows=tree_rows(snap.files),
        code_path=shown.path,
        code_text=shown.text,
        size=shown.size,
        target=None,
    )
