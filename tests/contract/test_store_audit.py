"""The audit record (`Store.record_audit`, `Store.audit_entries`): entries come back newest
first, filtered by team, actor, action and time in SQL, paged by id, on SQLite and PostgreSQL
(see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from brisa.store import Store
from brisa.store.audit import AuditFilter

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def record(store: Store, action: str, team: str, minutes: int, **extra: object) -> int:
    values: dict[str, object] = {
        "at": NOW + timedelta(minutes=minutes),
        "actor": "api",
        "address": "127.0.0.1",
        "via": "ui",
        "action": action,
        "team": team,
        "target": f"{team}/etl",
        "outcome": "ok",
        **extra,
    }
    return store.record_audit(**values)  # type: ignore[arg-type]


def test_entries_come_back_newest_first_with_everything_recorded(store: Store) -> None:
    first = record(store, "pause", "data", 0)
    second = record(
        store, "clear", "data", 1, outcome="refused", message="no run", detail={"tasks": ["a"]}
    )
    found = store.audit_entries(AuditFilter(), 10)
    assert [e.id for e in found] == [second, first]
    assert found[0].at == NOW + timedelta(minutes=1)
    assert (found[0].actor, found[0].address, found[0].via) == ("api", "127.0.0.1", "ui")
    assert (found[0].outcome, found[0].message, found[0].detail) == (
        "refused",
        "no run",
        {"tasks": ["a"]},
    )
    assert found[1].detail is None


def test_filters_and_pages(store: Store) -> None:
    ids = [
        record(store, a, t, i)
        for i, (a, t) in enumerate(
            [("pause", "data"), ("unpause", "data"), ("pause", "ops"), ("trigger", "data")]
        )
    ]
    record(store, "pause", "data", 10, actor="alice")

    def ids_of(found: AuditFilter, limit: int = 10) -> list[int]:
        return [e.id for e in store.audit_entries(found, limit)]

    assert ids_of(AuditFilter(teams=frozenset({"ops"}))) == [ids[2]]
    assert ids_of(AuditFilter(teams=frozenset())) == []
    assert ids_of(AuditFilter(actions=("pause",), actor="api")) == [ids[2], ids[0]]
    assert ids_of(
        AuditFilter(since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=3))
    ) == [ids[2], ids[1]]
    assert ids_of(AuditFilter(actor="api"), 2) == [ids[3], ids[2]]
    assert ids_of(AuditFilter(actor="api", before_id=ids[2]), 2) == [ids[1], ids[0]]
