"""A real standalone syncing a git repository: runs are pinned to the commit their DAG came
from, through new pushes, clears and a force-push that removes the commit from the remote."""

from __future__ import annotations

import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.gitserver import Upstream
from support.standalone import Standalone

TEAM = "pins"
DAG = """
import time
from pathlib import Path

from brisa import DAG, task

from helpers import VERSION

with DAG("pinned", params={{"gate": ""}}) as dag:

    @task
    def first(context=None):
        gate = Path(context.params["gate"])
        while context.params["gate"] and not gate.exists():
            time.sleep(0.05)
        return VERSION

    @task
    def second(seen):
        return [seen, VERSION]

    second(first())
"""


def helpers(version: str) -> str:
    return f'VERSION = "{version}"\n'


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    repo = Upstream(tmp_path / "remote", name="pins")
    repo.commit({"dags/pinned.py": DAG.format(), "dags/helpers.py": helpers("v1")}, "v1")
    return repo


@pytest.fixture
def server(tmp_path: Path, upstream: Upstream) -> Iterator[Standalone]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "brisa.toml").write_text(
        f'[repos.{TEAM}]\nurl = "{upstream.url}"\nbranch = "main"\nsubdir = "dags"\n'
        'period = "1h"\ntimeout = "20s"\n'
    )
    server = Standalone(home, copy_examples=False).start()
    try:
        yield server
    finally:
        server.stop()


def dag_commit(server: Standalone) -> str:
    return str(server.get(server.dag_path("pinned", TEAM))["code_version"])


def sync_to(server: Standalone, sha: str) -> None:
    server.post(f"/api/v1/repos/{TEAM}/sync")
    server.wait_until(lambda: dag_commit(server) == sha, 15, f"the DAG to move to {sha[:8]}")


def trigger(server: Standalone, run_id: str, gate: str = "") -> Any:
    path = f"{server.dag_path('pinned', TEAM)}/runs"
    return server.post(path, {"run_id": run_id, "conf": {"gate": gate}})


def result(server: Standalone, run_id: str) -> Any:
    path = f"{server.dag_path('pinned', TEAM)}/runs/{run_id}/tasks/second"
    return server.get(path)["return_value"]


def remove_snapshot(home: Path, sha: str) -> None:
    """As if the worker ran on another machine: no local snapshot of that commit."""
    snapshot = home / "repos" / TEAM / "snapshots" / sha
    for path in [snapshot, *snapshot.rglob("*")]:
        if path.is_dir():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(snapshot)


def test_runs_keep_their_commit_through_pushes_clears_and_a_force_push(
    server: Standalone, upstream: Upstream, tmp_path: Path
) -> None:
    first_sha = upstream.head()
    server.wait_until(lambda: dag_commit(server) == first_sha, 15, "the first commit's DAG")
    gate = tmp_path / "gate"
    old = trigger(server, "before_push", gate=str(gate))
    assert old["code_version"] == first_sha

    # A push while the old run waits: the DAG moves, the old run stays on its commit.
    second_sha = upstream.commit({"dags/helpers.py": helpers("v2")}, "v2")
    sync_to(server, second_sha)
    new = trigger(server, "after_push")
    assert new["code_version"] == second_sha
    gate.touch()
    assert server.wait_for_run("pinned", "before_push", team=TEAM)["state"] == "success"
    assert server.wait_for_run("pinned", "after_push", team=TEAM)["state"] == "success"
    assert result(server, "before_push") == ["v1", "v1"]
    assert result(server, "after_push") == ["v2", "v2"]

    # The first commit disappears from the remote (unrelated history, pruned) and from this
    # machine; clearing a task of the old run still runs that commit, from its tarball.
    third_sha = upstream.replace_history(
        {"dags/pinned.py": DAG.format(), "dags/helpers.py": helpers("v3")}
    )
    subprocess.run(
        ["git", "-C", str(upstream.bare), "gc", "--quiet", "--prune=now"],
        check=True,
        capture_output=True,
    )
    sync_to(server, third_sha)
    remove_snapshot(server.home, first_sha)
    runs = f"{server.dag_path('pinned', TEAM)}/runs"
    server.post(f"{runs}/before_push/clear", {"task_ids": ["second"]})
    server.wait_until(
        lambda: (
            server.get(f"{runs}/before_push/tasks/second")["try_number"] == 2
            and server.get(f"{runs}/before_push")["state"] == "success"
        ),
        20,
        "the cleared task to run again",
    )
    assert result(server, "before_push") == ["v1", "v1"]
    # The log's last chunk is shipped as the worker ends, not before the run's state moves.
    server.wait_until(
        lambda: (
            f"commit {first_sha[:7]} from tarball"
            in str(server.get(f"{runs}/before_push/tasks/second/logs?try_number=2"))
        ),
        20,
        "the second try's log to say where its code came from",
    )
