"""A real `brisa standalone` stopped (SIGSTOP: a frozen VM, a laptop asleep) for longer than
`[scheduler] heartbeat_timeout` while a task runs, then continued: the task is not taken for
lost as the scheduler resumes, and finishes in its first try."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from support.standalone import Standalone

HEARTBEAT_TIMEOUT = 2.0
PAUSE = 3 * HEARTBEAT_TIMEOUT
ENV = {
    "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
    "BRISA__WORKER__HEARTBEAT_INTERVAL": "500ms",
    "BRISA__SCHEDULER__HEARTBEAT_TIMEOUT": f"{HEARTBEAT_TIMEOUT:g}s",
}

DAG_FILE = """
import time
from pathlib import Path
from brisa import DAG, task

with DAG("sleeper"):
    @task
    def nap():
        Path({started!r}).touch()
        time.sleep({seconds})
        return "rested"
    nap()
"""


def test_a_standalone_stopped_longer_than_the_heartbeat_timeout_kills_no_task_on_resume(
    tmp_path: Path,
) -> None:
    dags, started = tmp_path / "dags", tmp_path / "nap.started"
    dags.mkdir()
    # The task outlives the pause by a few heartbeat intervals: it reports after the resume.
    source = DAG_FILE.format(started=str(started), seconds=PAUSE + 2)
    (dags / "sleeper.py").write_text(source)
    with Standalone(tmp_path / "home", dags=dags, env=ENV, copy_examples=False) as server:
        server.start().wait_for_dag("sleeper")
        run_id = server.trigger("sleeper")["run_id"]
        server.wait_until(started.exists, 15, "the task to start")
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE)  # the worker runs on; its heartbeats go unanswered
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)

        run = server.wait_for_run("sleeper", run_id, timeout=30)
        (nap,) = run["tasks"]
        assert (run["state"], nap["state"], nap["try_number"]) == ("success", "success", 1)
        assert "the scheduler was paused" in server.output()
