"""The reads for people have a statement timeout (UI.md A.1-6): a statement running longer
fails, and the connection it ran on answers the next statement normally."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from brisa.store import open_store

SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n",  # never ends by itself
    "postgresql": "SELECT pg_sleep(30)",
}


def test_a_statement_over_the_timeout_fails_and_the_next_one_runs(database_url: str) -> None:
    store = open_store(database_url, statement_timeout=0.2)
    try:
        with store.engine.connect() as conn, pytest.raises(OperationalError) as failed:
            conn.execute(sa.text(SLOW[store.backend]))
        assert "timeout" in str(failed.value.orig) or "interrupted" in str(failed.value.orig)
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        store.close()
