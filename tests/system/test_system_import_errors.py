"""Import errors through the REST API (UI.md A.2.11): each failing file says when it was first
and last seen failing; re-parses of the still-failing file move "last seen" only, and a file
that failed again after a fix starts a new "first seen"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from system.inprocess import InProcess

T0 = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)


def parse_fails(brisa: InProcess, at: datetime, message: str = "SyntaxError: bad") -> None:
    """What the DAG processor records when a parse of `broken.py` fails at `at`."""
    brisa.store.record_import_error(
        "default", "broken.py", lineno=3, message=message, traceback="Traceback ...", now=at
    )


def seen(brisa: InProcess) -> list[tuple[str, str, str]]:
    errors = brisa.request("GET", "/api/v1/import-errors")["import_errors"]
    return [(e["filename"], e["first_seen"], e["last_seen"]) for e in errors]


def test_first_seen_stays_while_the_file_fails_and_last_seen_moves(brisa: InProcess) -> None:
    parse_fails(brisa, T0)
    assert seen(brisa) == [("broken.py", "2026-03-04T05:00:00Z", "2026-03-04T05:00:00Z")]
    parse_fails(brisa, T0 + timedelta(minutes=10), "NameError: name 'x' is not defined")
    assert seen(brisa) == [("broken.py", "2026-03-04T05:00:00Z", "2026-03-04T05:10:00Z")]
    brisa.store.clear_import_error("default", "broken.py")  # a parse that succeeded
    assert seen(brisa) == []
    parse_fails(brisa, T0 + timedelta(hours=1))
    assert seen(brisa) == [("broken.py", "2026-03-04T06:00:00Z", "2026-03-04T06:00:00Z")]
