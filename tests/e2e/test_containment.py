"""Processes a task detaches from its worker (`setsid`, a double fork) are contained: they
are killed with the attempt when it times out and when it ends, as what stays in the worker's
process group always was. Real `brisa standalone`, real workers."""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.standalone import Standalone

DAG_FILE = """
from brisa import DAG, shell

# `setsid` makes the sleep the leader of a session of its own: outside the worker's process
# group, which is what the executor kills. (Its output goes elsewhere: a process that holds
# the task's stdout keeps the task running until it exits.)
ESCAPE = "setsid sleep 1000 >/dev/null 2>&1 & echo $! > {pids}/$BRISA_TASK_ID.pid; "

with DAG("escape_timeout", execution_timeout=2):
    shell("escapes_then_hangs", ESCAPE + "sleep 60")

with DAG("escape_and_end"):
    shell("escapes_then_ends", ESCAPE + "echo done")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Standalone, Path]]:
    root = tmp_path_factory.mktemp("containment")
    dags, pids = root / "dags", root / "pids"
    dags.mkdir()
    pids.mkdir()
    (dags / "escape.py").write_text(textwrap.dedent(DAG_FILE).format(pids=pids))
    env = {"BRISA__SCHEDULER__POLL_INTERVAL": "200ms", "BRISA__EXECUTOR__KILL_GRACE": "2s"}
    standalone = Standalone(root / "home", dags=dags, env=env, copy_examples=False)
    try:
        standalone.start()
        yield standalone, pids
    finally:
        standalone.stop()
        for path in pids.glob("*.pid"):  # should anything have escaped after all
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(path.read_text()), signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize(
    ("dag_id", "task_id", "state"),
    [
        ("escape_timeout", "escapes_then_hangs", "failed"),
        ("escape_and_end", "escapes_then_ends", "success"),
    ],
)
def test_a_process_that_left_the_workers_session_is_killed_with_the_attempt(
    server: tuple[Standalone, Path], dag_id: str, task_id: str, state: str
) -> None:
    standalone, pids = server
    standalone.wait_for_dag(dag_id)
    run_id = standalone.trigger(dag_id)["run_id"]
    pid_file = pids / f"{task_id}.pid"
    escaped = standalone.wait_until(
        lambda: pid_file.exists() and pid_file.read_text().strip(), 15, "the escape"
    )
    pid = int(escaped)
    # It leaves the worker's session (`setsid` calls setsid() once it runs, just after the
    # shell wrote its pid): wait for that, then check it is out.
    standalone.wait_until(lambda: os.getsid(pid) == pid, 10, "the escape to its own session")
    assert os.getsid(pid) == pid

    run = standalone.wait_for_run(dag_id, run_id, timeout=30)
    assert run["state"] == state
    standalone.wait_until(lambda: not alive(pid), 10, f"the escaped process {pid} to be killed")
