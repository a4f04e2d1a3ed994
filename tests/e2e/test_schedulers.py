"""Several schedulers (ADR 0019), as an operator meets them: on SQLite a second scheduler is
refused with the reason and exit code 2, and a standalone killed outright starts again at once
(its lease is taken over, not waited for)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from brisa.testing.server import Standalone

DAG = """
from brisa import DAG, shell

with DAG("hello", schedule=None):
    shell("hi", "echo hi")
"""


def test_a_second_scheduler_on_sqlite_is_refused_and_a_crashed_one_is_replaced(
    tmp_path: Path,
) -> None:
    with Standalone(tmp_path / "home") as server:
        (server.dags / "hello.py").write_text(DAG)
        server.start()
        second = subprocess.run(
            [sys.executable, "-m", "brisa", "scheduler"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert "another scheduler holds the lease on this database" in second.stderr
        assert "Traceback" not in second.stderr
        server.kill()  # SIGKILL: its lease has not expired
        server.start()
        server.wait_dag("hello")
        run = server.trigger("hello")
        assert server.wait_for_run("hello", run["run_id"])["state"] == "success"
