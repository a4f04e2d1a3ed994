"""Processes started together on a new database (a scheduler, an API, a DAG processor) each
migrate it at start: they must not break each other (one waits for the other's migration)."""

from __future__ import annotations

import subprocess
import sys

MIGRATE = "import sys; from brisa.store import open_store; open_store(sys.argv[1], migrate=True)"


def test_processes_migrating_a_new_database_at_once_all_start(database_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=120)[0].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
