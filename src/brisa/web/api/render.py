"""Records to JSON: one function per resource, ISO 8601 UTC datetimes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from brisa.control.bulk import BulkChanged
from brisa.control.dag_list import DagPage, DagRow
from brisa.control.lists import RunBrief, TaskBrief
from brisa.control.pools import PoolDetail
from brisa.control.queries import DagSummary, RepoView, TaskDetail
from brisa.core import timetable
from brisa.core.pools import Pool
from brisa.core.records import (
    AttemptRecord,
    ImportErrorRecord,
    RepoStatusRecord,
    RunRecord,
    TaskRecord,
)
from brisa.repos.git import redact


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def dag(summary: DagSummary, *, detail: bool = False) -> dict[str, Any]:
    record = summary.record
    spec = record.spec
    out: dict[str, Any] = {
        "team": record.team,
        "dag_id": record.dag_id,
        "description": spec.description,
        "fileloc": record.fileloc,
        "is_paused": record.is_paused,
        "is_active": record.is_active,
        "schedule": timetable.describe(spec.schedule),
        "tags": list(spec.tags),
        "owner": spec.owner,
        "next_run": iso(summary.next_run),
        "version_id": record.version_id,
        "structure_hash": record.structure_hash,
        "repo": record.repo,
        "code_version": record.code_version or None,
        "last_parsed_at": iso(record.last_parsed_at),
    }
    if detail:
        out["spec"] = spec.to_json()
        out["params"] = {name: p.to_json() for name, p in spec.params.items()}
        out["tasks"] = [
            {
                "task_id": t.task_id,
                "kind": t.kind,
                "upstream": list(t.upstream),
                "trigger_rule": t.trigger_rule.value,
                "retries": t.retries,
            }
            for t in spec.tasks.values()
        ]
    return out


def run_brief(brief: RunBrief) -> dict[str, Any]:
    return {
        "team": brief.team,
        "dag_id": brief.dag_id,
        "run_id": brief.run_id,
        "run_type": brief.run_type,
        "state": brief.state,
        "logical_date": iso(brief.logical_date),
        "start_date": iso(brief.start_date),
        "end_date": iso(brief.end_date),
        "code_version": brief.code_version or None,
    }


def dag_row(row: DagRow) -> dict[str, Any]:
    return {
        **dag(row.summary),
        "last_run": run_brief(row.last) if row.last else None,
        "recent_runs": [run_brief(r) for r in row.recent],
        "import_error": row.import_error,
    }


def dag_page(page: DagPage) -> dict[str, Any]:
    return {
        "dags": [dag_row(r) for r in page.rows],
        "total": page.total,
        "tabs": page.tabs,
        "next_cursor": page.next_cursor,
    }


def task_brief(brief: TaskBrief) -> dict[str, Any]:
    return {
        "task_id": brief.task_id,
        "state": brief.state,
        "try_number": brief.try_number,
        "queued_at": iso(brief.queued_at),
        "start_date": iso(brief.start_date),
        "end_date": iso(brief.end_date),
        "hostname": brief.hostname,
        "run": run_brief(brief.run),
    }


def task(record: TaskRecord) -> dict[str, Any]:
    return {
        "task_id": record.task_id,
        "state": record.state.value,
        "try_number": record.try_number,
        "start_date": iso(record.start_date),
        "end_date": iso(record.end_date),
        "queued_at": iso(record.queued_at),
        "next_try_at": iso(record.next_try_at),
        "hostname": record.hostname,
        "error": record.error,
    }


def run(record: RunRecord, *, with_tasks: bool = False) -> dict[str, Any]:
    """A run; `with_tasks` adds its tasks, in the order the record has them (the queries give
    them in their DAG's order)."""
    out: dict[str, Any] = {
        "team": record.team,
        "dag_id": record.dag_id,
        "run_id": record.run_id,
        "run_type": record.run_type,
        "state": record.state.value,
        "logical_date": iso(record.logical_date),
        "data_interval_start": iso(record.data_interval_start),
        "data_interval_end": iso(record.data_interval_end),
        "conf": record.conf,
        "version_id": record.version_id,
        "repo": record.repo,
        "code_version": record.code_version or None,
        "created_at": iso(record.created_at),
        "start_date": iso(record.start_date),
        "end_date": iso(record.end_date),
    }
    if with_tasks:
        out["note"] = record.note
        out["tasks"] = [task(t) for t in record.tasks.values()]
    return out


def task_detail(detail: TaskDetail) -> dict[str, Any]:
    return {
        **task(detail.record),
        "return_value": detail.return_value,
        "attempts": [attempt(a) for a in detail.attempts],
    }


def attempt(record: AttemptRecord) -> dict[str, Any]:
    return {
        "try_number": record.try_number,
        "state": record.state.value,
        "queued_at": iso(record.queued_at),
        "start_date": iso(record.start_date),
        "end_date": iso(record.end_date),
        "hostname": record.hostname,
        "error": record.error,
        "code_version": record.code_version or None,
    }


def import_error(record: ImportErrorRecord) -> dict[str, Any]:
    return {
        "team": record.team,
        "filename": record.filename,
        "lineno": record.lineno,
        "message": record.message,
        "traceback": record.traceback,
        "repo": record.repo,
        "code_version": record.code_version or None,
        "created_at": iso(record.created_at),
        "first_seen": iso(record.first_seen),
        "last_seen": iso(record.created_at),
    }


def _sync_status(status: RepoStatusRecord | None) -> dict[str, Any]:
    if status is None:  # not synced yet (or a folder, which has no sync)
        status = RepoStatusRecord("", "", "", None, None, None, None, None, None, 0, None)
    return {
        "current_sha": status.current_sha,
        "published_at": iso(status.published_at),
        "last_sync_at": iso(status.last_sync_at),
        "last_success_at": iso(status.last_success_at),
        "last_error": status.last_error,
        "error_kind": status.error_kind,
        "consecutive_failures": status.consecutive_failures,
        "sync_requested_at": iso(status.sync_requested_at),
    }


def repo(view: RepoView, *, scan_interval: float) -> dict[str, Any]:
    """A DAG source as configured (secrets left out) with what its last sync found."""
    source = view.source
    git = source.is_git
    return {
        "name": source.name,
        "team": source.owner,
        "kind": "git" if git else "folder",
        "url": redact(source.url) if git else None,
        "path": None if git else source.path,
        "ref": source.ref if git else None,
        "subdir": source.subdir or None,
        "period": source.period if git else scan_interval,
        "webhook": bool(source.webhook_secret),
        **_sync_status(view.status),
    }


def pool(record: Pool) -> dict[str, Any]:
    return {
        "team": record.team,
        "name": record.name,
        "description": record.description,
        "slots": record.slots,
        "used": record.used,
        "queued": record.queued,
        "running": record.running,
        "open": record.open,
        "waiting": record.waiting,
        "is_default": record.is_default,
        "configured": record.configured,
    }


def pool_detail(detail: PoolDetail) -> dict[str, Any]:
    fields = ("team", "dag_id", "run_id", "task_id", "state", "slots")
    waiting = [{f: getattr(w, f) for f in fields} for w in detail.waiting]
    holders = [{f: h[f] for f in fields} for h in detail.holders]
    return {**pool(detail.pool), "holders": holders, "waiting_tasks": waiting}


def bulk_changed(done: BulkChanged) -> dict[str, Any]:
    runs = [
        {"team": c.run.team, "dag_id": c.run.dag_id, "run_id": c.run.run_id,
         "state": c.run.state.value, "changes": [{"task_id": x.task_id, "state": x.state.value,
                      "new_state": x.new_state.value, "try_number": x.try_number}
                     for x in c.changes]}
        for c in done.runs
    ]  # fmt: skip
    return {"action": done.action, "dry_run": done.dry_run, "count": done.count,
            "needs_acknowledge": done.needs_ack, "runs": runs}  # fmt: skip
