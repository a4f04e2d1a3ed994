"""How the CLI shows the API's answers to people: aligned text tables and `label: value`
lists, times to the second in UTC."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

DAG_COLUMNS = {"DAG": "name", "SCHEDULE": "schedule", "PAUSED": "is_paused",
               "NEXT RUN": "next_run", "TAGS": "tags"}  # fmt: skip
RUN_COLUMNS = {"RUN ID": "run_id", "STATE": "state", "TYPE": "run_type",
               "LOGICAL DATE": "logical_date", "STARTED": "start_date",
               "ENDED": "end_date"}  # fmt: skip
TASK_COLUMNS = {"TASK": "task_id", "STATE": "state", "TRY": "try_number",
                "STARTED": "start_date", "ENDED": "end_date", "ERROR": "error"}  # fmt: skip
SPEC_COLUMNS = {"TASK": "task_id", "KIND": "kind", "UPSTREAM": "upstream",
                "TRIGGER RULE": "trigger_rule", "RETRIES": "retries"}  # fmt: skip
PARAM_COLUMNS = {"PARAM": "name", "TYPE": "type", "DEFAULT": "default",
                 "DESCRIPTION": "description"}  # fmt: skip
REPO_COLUMNS = {"REPO": "name", "TEAM": "team", "KIND": "kind", "REF": "ref",
                "COMMIT": "commit", "LAST SUCCESS": "last_success_at",
                "FAILURES": "consecutive_failures", "LAST ERROR": "error"}  # fmt: skip
IMPORT_ERROR_COLUMNS = {"TEAM": "team", "FILE": "where", "COMMIT": "commit",
                        "SINCE": "created_at", "ERROR": "error"}  # fmt: skip
SHORT_SHA = 12
ERROR_WIDTH = 60


def when(value: str | None) -> str:
    """An API timestamp as ISO 8601 to the second, '-' when unset."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def stamp(at: datetime | None) -> str:
    return when(at.isoformat()) if at else "-"


def cell(key: str, value: Any) -> str:
    """One value as table text: times to the second, yes/no, lists joined, '-' for none."""
    if key.endswith(("_date", "_at", "next_run")):
        return when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value).replace("\n", " ")


def table(items: Sequence[dict[str, Any]], columns: dict[str, str]) -> str:
    """A plain aligned text table of `items`, one column per (header, key) of `columns`."""
    cells = [list(columns)] + [[cell(k, item.get(k)) for k in columns.values()] for item in items]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def fields(item: dict[str, Any], labels: dict[str, str]) -> str:
    """`label: value` lines, aligned, for one resource."""
    width = max(len(label) for label in labels) + 2
    return "\n".join(f"{label + ':':<{width}}{cell(k, item.get(k))}" for label, k in labels.items())


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def named(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "name": f"{item['team']}/{item['dag_id']}"}


def short_sha(sha: str | None) -> str | None:
    return sha[:SHORT_SHA] if sha else None


def truncate(text: str | None, width: int = ERROR_WIDTH) -> str | None:
    """The first line of `text`, cut to `width` characters."""
    lines = (text or "").strip().splitlines()
    if not lines:
        return None
    line = lines[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def with_commits(
    items: Sequence[dict[str, Any]], columns: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The items and columns of a DAG or run table, plus a COMMIT column (short SHAs) when
    any item comes from a git repository."""
    if not any(item.get("code_version") for item in items):
        return list(items), columns
    rows = [{**item, "commit": short_sha(item.get("code_version"))} for item in items]
    return rows, {**columns, "COMMIT": "commit"}


def _code(item: dict[str, Any]) -> dict[str, Any]:
    return {**named(item), "code_version": item.get("code_version") or "local folder"}


def render_run(run: dict[str, Any]) -> str:
    labels = {"run": "name", "run id": "run_id", "state": "state", "type": "run_type",
              "logical date": "logical_date", "started": "start_date", "ended": "end_date",
              "conf": "conf", "version": "version_id", "repository": "repo",
              "commit": "code_version"}  # fmt: skip
    summary = fields({**_code(run), "conf": json.dumps(run["conf"])}, labels)
    return summary + "\n\n" + table(run.get("tasks", []), TASK_COLUMNS)


def render_dag(dag: dict[str, Any]) -> str:
    labels = {"dag": "name", "description": "description", "schedule": "schedule",
              "paused": "is_paused", "next run": "next_run", "file": "fileloc",
              "repository": "repo", "code version": "code_version",
              "last parsed": "last_parsed_at", "tags": "tags"}  # fmt: skip
    parts = [fields(_code(dag), labels)]
    params = [
        {**p, "name": name, "default": json.dumps(p["default"]) if "default" in p else "required"}
        for name, p in sorted(dag["params"].items())
    ]
    if params:
        parts.append(table(params, PARAM_COLUMNS))
    parts.append(table(dag["tasks"], SPEC_COLUMNS))
    return "\n\n".join(parts)


def repo_row(repo: dict[str, Any]) -> dict[str, Any]:
    """A repository as a row of `REPO_COLUMNS`: short SHA, the error's kind and first line."""
    error = repo["last_error"]
    if error and repo["error_kind"]:
        error = f"{repo['error_kind']}: {error}"
    return {**repo, "commit": short_sha(repo["current_sha"]), "error": truncate(error)}


def render_repo(repo: dict[str, Any]) -> str:
    """Every field of a git repository; a folder has no sync, so only where it is."""
    labels = {"repository": "name", "team": "team", "kind": "kind"}
    if repo["kind"] != "git":
        labels |= {"path": "path", "subdir": "subdir", "scanned every": "period"}
        return fields({**repo, "period": f"{repo['period']:g}s"}, labels)
    labels |= {"url": "url", "ref": "ref", "subdir": "subdir", "period": "period",
               "webhook secret": "webhook", "commit": "current_sha",
               "published": "published_at", "last sync": "last_sync_at",
               "last success": "last_success_at", "failures": "consecutive_failures",
               "error kind": "error_kind", "last error": "last_error",
               "sync requested": "sync_requested_at"}  # fmt: skip
    return fields({**repo, "period": f"{repo['period']:g}s"}, labels)


def import_error_row(error: dict[str, Any]) -> dict[str, Any]:
    """An import error as a row of `IMPORT_ERROR_COLUMNS`: file:line, short SHA, message."""
    where = f"{error['filename']}:{error['lineno']}" if error["lineno"] else error["filename"]
    commit = short_sha(error.get("code_version")) or "local folder"
    return {**error, "where": where, "commit": commit, "error": truncate(error["message"], 80)}
