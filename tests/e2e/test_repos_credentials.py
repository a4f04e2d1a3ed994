"""A real standalone syncing over HTTPS-style basic auth: the token works, a wrong token is an
auth error shown by the API, and the token is never in the database, any file under
$BRISA_HOME, the server's output, API answers or a process's command line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from support.gitserver import HttpGitServer, Upstream
from support.standalone import Standalone

DAG = """
from brisa import DAG, task

with DAG("private_dag"):

    @task
    def hello():
        return "hi"

    hello()
"""


def files_holding(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def command_lines_holding(secret: bytes) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if secret in cmdline.read_bytes():
                found.append(str(cmdline))
        except OSError:
            continue  # the process ended meanwhile
    return found


def test_a_private_repository_syncs_and_its_token_never_leaks(tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    upstream = Upstream(tmp_path / "remote", name="private")
    sha = upstream.commit({"private_dag.py": DAG})
    token_file = tmp_path / "token"
    token_file.write_text(canary + "\n")
    home = tmp_path / "home"
    home.mkdir()
    with HttpGitServer(upstream.base, username="bot", token=canary) as git_server:
        (home / "brisa.toml").write_text(
            f'[repos.private]\nurl = "{git_server.url("private")}"\nusername = "bot"\n'
            f'password_file = "{token_file}"\nperiod = "1h"\ntimeout = "10s"\n'
        )
        server = Standalone(home, copy_examples=False).start()
        try:
            dag = server.wait_for_dag("private_dag", team="private")
            assert dag["code_version"] == sha
            assert command_lines_holding(canary.encode()) == []

            token_file.write_text("not-the-token\n")  # a rotated-away token: an auth error
            server.post("/api/v1/repos/private/sync")
            status = server.wait_until(
                lambda: (s := server.get("/api/v1/repos/private"))["error_kind"] and s,
                15,
                "the failed sync to be reported",
            )
            assert (status["error_kind"], status["current_sha"]) == ("auth", sha)
            assert status["consecutive_failures"] >= 1
            answers = json.dumps([status, server.get("/api/v1/repos"), dag])
        finally:
            server.stop()
    assert canary not in answers
    assert canary not in server.output()
    assert files_holding(home, canary.encode()) == []  # brisa.db, snapshots, cache, logs
