"""The audit record of what people do (UI.md A.2.13, docs/adr/0030-audit-record.md): every
action a person asks for through the REST API or the web UI — pause, unpause, trigger, clear,
mark success/failed, cancel a run, sync a repository now, set or delete a pool — is written
once it is done or refused, with who asked, from where, when, on what, and how it ended.

Who: the caller's identity as the API knows it (`Scope.who`). There are no users yet, so
today that is "api" — the actor the transition record names for people's moves too — with
the client's address and whether the call came through the UI or the REST API. When users
land, `web.api.app.caller_scope` puts the user's name there and nothing here changes.

Dry runs and reads are not audited, nor is a request about a team the caller cannot see: it
is answered as if nothing were there, before the store is asked anything."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from brisa.control.queries import Clock, Scope
from brisa.control.search import Found, limit_of, parse_time
from brisa.errors import BrisaError, InvalidInput
from brisa.store import Store
from brisa.store.audit import AuditEntry as AuditEntry  # what the edges render
from brisa.store.audit import AuditFilter

ACTIONS = (
    "pause",
    "unpause",
    "trigger",
    "clear",
    "mark_success",
    "mark_failed",
    "cancel_run",
    "sync_now",
    "pool_set",
    "pool_delete",
)
OUTCOMES = ("ok", "refused", "failed")
FIELDS = ("team", "user", "action", "from", "to", "limit", "after")


class AuditTrail:
    """Writes the audit record around actions, and reads it for one caller's scope."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    @contextmanager
    def action(self, scope: Scope, action: str, team: str, target: str) -> Iterator[dict[str, Any]]:
        """Record `action` on `target` of `team` as done by the caller of `scope` once the
        block ends: "ok", "refused" with the message of a BrisaError (not found, conflict,
        bad input), or "failed" for anything else (the error's type only: the traceback is
        the server log's). What the block puts in the yielded dict is kept as the detail."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audited action {action!r}")
        detail: dict[str, Any] = {}
        try:
            yield detail
        except BrisaError as exc:
            self._write(scope, action, team, target, "refused", str(exc), detail)
            raise
        except Exception as exc:
            self._write(scope, action, team, target, "failed", type(exc).__name__, detail)
            raise
        self._write(scope, action, team, target, "ok", None, detail)

    def _write(
        self,
        scope: Scope,
        action: str,
        team: str,
        target: str,
        outcome: str,
        message: str | None,
        detail: dict[str, Any],
    ) -> None:
        self._store.record_audit(
            at=self._clock(),
            actor=scope.who,
            address=scope.address,
            via=scope.via,
            action=action,
            team=team,
            target=target,
            outcome=outcome,
            message=message,
            detail=detail or None,
        )

    def entries(self, scope: Scope, params: Mapping[str, str]) -> Found[AuditEntry]:
        """The entries of the visible teams, newest first, filtered by the query parameters
        `team`, `user`, `action` (comma-separated), `from`, `to` (ISO 8601), a page of
        `limit` (50) below the id `after` (the previous page's `next_cursor`)."""
        limit = limit_of(params)
        found = self._store.audit_entries(audit_filter(params, scope.teams), limit + 1)
        more = len(found) > limit
        return Found(found[:limit], str(found[limit - 1].id) if more else None)


def audit_filter(params: Mapping[str, str], scope_teams: frozenset[str] | None) -> AuditFilter:
    """The store's filter for these query parameters; InvalidInput naming a bad one."""
    team = params.get("team", "").strip()
    teams = scope_teams
    if team:  # one team: nothing when the caller cannot see it, as if it did not exist
        hidden = scope_teams is not None and team not in scope_teams
        teams = frozenset() if hidden else frozenset({team})
    actions = tuple(a for a in (p.strip() for p in params.get("action", "").split(",")) if a)
    for action in actions:
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    return AuditFilter(
        teams=teams,
        actor=params.get("user", "").strip() or None,
        actions=actions,
        since=parse_time(params.get("from", ""), "from"),
        until=parse_time(params.get("to", ""), "to"),
        before_id=_cursor(params.get("after", "")),
    )


def _cursor(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput(f"after must be the next_cursor of a page (a number), not {raw!r}")
    return int(raw)
