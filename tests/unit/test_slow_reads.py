"""A read cut by the statement timeout answers "narrow the filter", not a crash."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from brisa.web.ui.errors import too_slow


def test_statement_timeouts_are_told_apart_from_other_database_errors() -> None:
    pg = Exception("canceling statement due to statement timeout")
    assert too_slow(OperationalError("SELECT", {}, pg))
    assert too_slow(OperationalError("SELECT", {}, Exception("interrupted")))
    assert not too_slow(OperationalError("SELECT", {}, Exception("database is locked")))
    assert not too_slow(ValueError("statement timeout"))
