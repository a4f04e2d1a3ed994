"""A container task under the local executor: its attempt fails, saying it needs the
Kubernetes executor, and the shell task next to it runs as usual (real worker processes)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from support.standalone import Standalone

DAG_FILE = """
from brisa import DAG, container, shell

with DAG("mixed") as dag:
    train = container(
        "train",
        "ghcr.io/acme/train:1.4",
        command=["python", "-m", "train"],
        args=["--day", "{{ ds }}"],
        resources={"limits": {"nvidia.com/gpu": 1}},
    )
    shell("notes", "echo written", pod={"requests": {"cpu": "100m"}})
"""


def test_a_container_task_fails_under_the_local_executor_saying_why(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "mixed.py").write_text(textwrap.dedent(DAG_FILE))
    env = {"BRISA__SCHEDULER__POLL_INTERVAL": "200ms"}
    with Standalone(tmp_path / "home", dags=dags, env=env, copy_examples=False) as server:
        server.start()
        server.wait_for_dag("mixed")
        run = server.wait_for_run("mixed", server.trigger("mixed")["run_id"], timeout=60)
    tasks = {t["task_id"]: t for t in run["tasks"]}
    assert tasks["notes"]["state"] == "success"
    assert tasks["train"]["state"] == "failed"
    error = tasks["train"]["error"]
    assert "container task" in error and 'kind = "kubernetes"' in error, error
