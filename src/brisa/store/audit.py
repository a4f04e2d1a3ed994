"""The audit record (`audit_log`): append one entry, read entries newest first, filtered and
paged by id (never OFFSET). Written by `control.audit`; nothing updates an entry, and only
retention (`store/pruning.py`, `[retention] audit_days`) deletes old ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from brisa.store.tables import audit_log

a = audit_log


@dataclass(frozen=True)
class AuditEntry:
    """One action a person asked for: who (`actor`, `address`, `via`), when, what (`action`)
    on which `team` and `target`, and how it ended (`outcome` "ok" or "refused", `message`:
    why it was refused)."""

    id: int
    at: datetime
    actor: str
    address: str
    via: str
    action: str
    team: str
    target: str
    outcome: str
    message: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read: of these teams (None: all), by this actor, of these actions,
    at or after `since` and before `until`, with an id below `before_id` (the next page)."""

    teams: frozenset[str] | None = None
    actor: str | None = None
    actions: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None


class AuditStore:
    engine: sa.Engine

    def record_audit(
        self,
        *,
        at: datetime,
        actor: str,
        address: str,
        via: str,
        action: str,
        team: str,
        target: str,
        outcome: str,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Append one entry; its id."""
        values = {
            "at": at,
            "actor": actor[:200],
            "address": address[:100],
            "via": via[:10],
            "action": action[:40],
            "team": team[:100],
            "target": target[:1000],
            "outcome": outcome[:20],
            "message": message,
            "detail": detail,
        }
        with self.engine.begin() as conn:
            key = conn.execute(sa.insert(a).values(**values)).inserted_primary_key
        return int(key[0]) if key else 0

    def audit_entries(self, found: AuditFilter, limit: int) -> list[AuditEntry]:
        """Entries matching `found`, newest first, at most `limit`: one statement, by the
        primary key (or the team's or action's index)."""
        query = sa.select(a)
        if found.teams is not None:
            query = query.where(a.c.team.in_(sorted(found.teams)))
        if found.actor:
            query = query.where(a.c.actor == found.actor)
        if found.actions:
            query = query.where(a.c.action.in_(sorted(set(found.actions))))
        if found.since is not None:
            query = query.where(a.c.at >= found.since)
        if found.until is not None:
            query = query.where(a.c.at < found.until)
        if found.before_id is not None:
            query = query.where(a.c.id < found.before_id)
        query = query.order_by(a.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query)]
