"""Git-synced DAG repositories against a real standalone: the sync status in the API and the
CLI, sync requests and signed webhooks, and runs pinned to the commit they were created from.

The repositories are `file://` bare repositories this module creates with plain `git`; their
period is an hour, so only the start and the sync requests of the tests sync them.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.core.webhooks import github_signature
from support.standalone import ApiError, Standalone

SECRET = "webhook-secret-of-the-signed-repo"

DAG_FILE = """
from brisa import DAG, task

with DAG("{dag_id}", tags=["{version}"]):

    @task
    def hello() -> str:
        print("hello from {version}")
        return "{version}"

    hello()
"""

CONFIG = """
[repos.analytics]
url = "file://{origin}"
branch = "main"
subdir = "dags"
period = "1h"

[repos.signed]
url = "file://{origin}"
subdir = "dags"
period = "1h"
webhook_secret = "{secret}"

[repos.broken]
url = "file://{missing}"
period = "1h"
"""


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
    done = subprocess.run(
        ["git", *identity, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Origin:
    """A bare repository (the "forge") and a clone to commit to it from."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        self.work = root / "work"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        git("clone", "--quiet", str(self.bare), str(self.work))
        git("checkout", "--quiet", "-B", "main", cwd=self.work)

    def push(self, files: dict[str, str], message: str) -> str:
        """Commit `files` (path → text) and push them; the new commit's SHA."""
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push_version(self, version: str) -> str:
        return self.push({"dags/hello.py": DAG_FILE.format(dag_id="hello", version=version)},
                         f"hello {version}")  # fmt: skip


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    return Origin(tmp_path_factory.mktemp("forge"))


@pytest.fixture(scope="module")
def first_sha(origin: Origin) -> str:
    return origin.push_version("v1")


@pytest.fixture(scope="module")
def brisa(
    tmp_path_factory: pytest.TempPathFactory, origin: Origin, first_sha: str
) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("repos") / "home"
    home.mkdir()
    missing = home.parent / "missing.git"
    config = CONFIG.format(origin=origin.bare, missing=missing, secret=SECRET)
    (home / "brisa.toml").write_text(config)
    server = Standalone(home, copy_examples=False, env={"BRISA__SCHEDULER__POLL_INTERVAL": "200ms"})
    server.start()
    try:
        wait_for_commit(server, "analytics", first_sha)
        yield server
    finally:
        server.stop()


def wait_for_commit(brisa: Standalone, name: str, sha: str) -> dict[str, Any]:
    def synced() -> Any:
        repo = brisa.get(f"/api/v1/repos/{name}")
        return repo if repo["current_sha"] == sha else None

    return dict(brisa.wait_until(synced, 15, f"repository {name} at {sha[:12]}"))


def wait_for_dag_at(brisa: Standalone, team: str, dag_id: str, sha: str) -> dict[str, Any]:
    def published() -> Any:
        dag = brisa.wait_for_dag(dag_id, team=team)
        return dag if dag["code_version"] == sha else None

    return dict(brisa.wait_until(published, 15, f"{team}/{dag_id} from {sha[:12]}"))


def raw_post(brisa: Standalone, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """POST bytes as they are (a forge's webhook); (status, decoded JSON answer)."""
    request = urllib.request.Request(brisa.url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def declared_size_refused(brisa: Standalone, path: str, size: int) -> int:
    """The status of a POST that declares a `size`-byte body (and sends none: the server
    answers from the header, and a client still sending would race its closing)."""
    connection = http.client.HTTPConnection("127.0.0.1", brisa.port, timeout=10)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def brisa_cli(brisa: Standalone, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brisa", *args],
        env={**os.environ, "BRISA_API_URL": brisa.url, **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def field(text: str, label: str) -> str:
    """The value of a `label: value` line of the CLI's output."""
    line = next(line for line in text.splitlines() if line.startswith(f"{label}:"))
    return line.removeprefix(f"{label}:").strip()


# --- the API ---------------------------------------------------------------------------------


def test_repos_lists_every_source_with_its_commit(brisa: Standalone, first_sha: str) -> None:
    answer = brisa.get("/api/v1/repos")

    repos = {repo["name"]: repo for repo in answer["repos"]}
    assert list(repos) == ["dags", "analytics", "broken", "signed"]
    analytics = repos["analytics"]
    assert analytics["kind"] == "git" and analytics["team"] == "analytics"
    assert analytics["url"].startswith("file://") and analytics["url"].endswith("origin.git")
    assert analytics["ref"] == "refs/heads/main" and analytics["subdir"] == "dags"
    assert analytics["period"] == 3600
    assert analytics["current_sha"] == first_sha
    assert analytics["last_success_at"] and analytics["published_at"]
    assert analytics["last_error"] is None and analytics["consecutive_failures"] == 0
    assert analytics["webhook"] is False and repos["signed"]["webhook"] is True
    assert repos["signed"]["ref"] == "HEAD"
    assert repos["dags"]["kind"] == "folder" and repos["dags"]["current_sha"] is None
    assert SECRET not in json.dumps(answer)
    detail = brisa.get("/api/v1/repos/analytics")  # the list's entry and the parsed commits
    commits = detail.pop("commits")
    assert detail == analytics
    assert commits[0]["code_version"] == first_sha and commits[0]["errors"] == []


def test_a_repository_that_cannot_be_fetched_shows_its_error(brisa: Standalone) -> None:
    broken = brisa.wait_until(
        lambda: (r := brisa.get("/api/v1/repos/broken"))["last_error"] and r, 15, "a failed sync"
    )
    assert broken["current_sha"] is None and broken["consecutive_failures"] >= 1
    assert broken["error_kind"] == "not_found"
    assert "missing.git" in broken["last_error"]


def test_unknown_repositories_and_folders(brisa: Standalone) -> None:
    with pytest.raises(ApiError) as unknown:
        brisa.get("/api/v1/repos/nope")
    assert unknown.value.status == 404 and "no repository 'nope'" in unknown.value.detail
    assert "analytics" in unknown.value.detail  # the configured ones are named

    with pytest.raises(ApiError) as unknown_sync:
        brisa.post("/api/v1/repos/nope/sync")
    assert unknown_sync.value.status == 404

    with pytest.raises(ApiError) as folder:
        brisa.post("/api/v1/repos/dags/sync")
    assert folder.value.status == 400
    assert folder.value.detail.startswith("repository dags is a folder; nothing to sync")


def test_a_sync_request_publishes_the_pushed_commit(brisa: Standalone, origin: Origin) -> None:
    sha = origin.push(
        {
            "dags/second.py": DAG_FILE.format(dag_id="second", version="second"),
            "dags/broken.py": "from brisa import DAG\n\nDAG(\n",
        },
        "a second DAG and a broken file",
    )

    answer = brisa.post("/api/v1/repos/analytics/sync")

    assert answer["name"] == "analytics" and answer["requested"] is True
    wait_for_commit(brisa, "analytics", sha)
    second = wait_for_dag_at(brisa, "analytics", "second", sha)
    assert second["repo"] == "analytics"
    errors = brisa.get("/api/v1/import-errors?team=analytics")["import_errors"]
    assert [(e["filename"], e["repo"], e["code_version"]) for e in errors] == [
        ("broken.py", "analytics", sha)
    ]


def test_a_webhook_secret_requires_a_signed_request(brisa: Standalone, origin: Origin) -> None:
    path = "/api/v1/repos/signed/sync"
    push_event = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
    json_type = {"Content-Type": "application/json"}

    status, answer = raw_post(brisa, path, push_event, json_type)
    assert status == 401 and "X-Hub-Signature-256" in answer["detail"]
    forged = {**json_type, "X-Hub-Signature-256": github_signature("guess", push_event)}
    status, answer = raw_post(brisa, path, push_event, forged)
    assert status == 401 and SECRET not in answer["detail"]
    assert declared_size_refused(brisa, path, 2 << 20) == 413

    sha = origin.push_version("v2")
    signed = {**json_type, "X-Hub-Signature-256": github_signature(SECRET, push_event)}
    status, answer = raw_post(brisa, path, push_event, signed)
    assert (status, answer["requested"]) == (202, True)
    wait_for_commit(brisa, "signed", sha)
    status, _ = raw_post(brisa, path, b"{}", {"X-Gitlab-Token": SECRET})
    assert status == 202


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_lists_and_shows_repositories(brisa: Standalone) -> None:
    sha = brisa.get("/api/v1/repos/analytics")["current_sha"]

    listed = brisa_cli(brisa, "repos", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:5] == ["REPO", "TEAM", "KIND", "REF", "COMMIT"]
    row = next(line.split() for line in lines if line.startswith("analytics "))
    assert row[:5] == ["analytics", "analytics", "git", "refs/heads/main", sha[:12]]
    broken = next(line for line in lines if line.startswith("broken "))
    assert "not_found: [repos.broken] sync of" in broken
    as_json = json.loads(brisa_cli(brisa, "repos", "list", "-o", "json").stdout)
    assert [r["name"] for r in as_json["repos"]] == ["dags", "analytics", "broken", "signed"]

    shown = brisa_cli(brisa, "repos", "status", "analytics")
    assert shown.returncode == 0, shown.stderr
    assert field(shown.stdout, "commit") == sha
    assert field(shown.stdout, "period") == "3600s"
    assert field(shown.stdout, "webhook secret") == "no"
    unknown = brisa_cli(brisa, "repos", "status", "nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: no repository 'nope'")


def test_cli_lists_import_errors_with_their_commit(brisa: Standalone) -> None:
    [error] = brisa.get("/api/v1/import-errors?team=analytics")["import_errors"]

    listed = brisa_cli(brisa, "dags", "errors", "--team", "analytics")

    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["TEAM", "FILE", "COMMIT", "SINCE", "ERROR"]
    assert row.split()[:3] == ["analytics", "broken.py:3", error["code_version"][:12]]
    assert "SyntaxError" in row


def test_cli_sync_wait_reports_the_new_commit(brisa: Standalone, origin: Origin) -> None:
    sha = origin.push_version("v3")

    synced = brisa_cli(brisa, "repos", "sync", "analytics", "--wait")

    assert synced.returncode == 0, synced.stderr
    assert synced.stdout == f"repository analytics synced: commit {sha[:12]} published\n"
    again = brisa_cli(brisa, "repos", "sync", "analytics", "--wait", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["current_sha"] == sha


def test_cli_sync_exit_codes(brisa: Standalone) -> None:
    failed = brisa_cli(brisa, "repos", "sync", "broken", "--wait")
    assert failed.returncode == 1
    assert failed.stderr.startswith("repository broken: sync failed (not_found): ")

    folder = brisa_cli(brisa, "repos", "sync", "dags")
    assert folder.returncode == 2 and "is a folder; nothing to sync" in folder.stderr

    unsigned = brisa_cli(brisa, "repos", "sync", "signed")
    assert unsigned.returncode == 2 and "X-Hub-Signature-256" in unsigned.stderr
    signed = brisa_cli(brisa, "repos", "sync", "signed", "--wait", BRISA_WEBHOOK_SECRET=SECRET)
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.startswith("repository signed synced: ")


# --- runs pinned to a commit ---------------------------------------------------------------


def test_a_run_keeps_the_commit_it_was_created_from(brisa: Standalone, origin: Origin) -> None:
    old_sha = origin.push_version("old")
    brisa.post("/api/v1/repos/analytics/sync")
    wait_for_dag_at(brisa, "analytics", "hello", old_sha)
    run = brisa.trigger("hello", team="analytics")
    assert run["code_version"] == old_sha and run["repo"] == "analytics"
    assert brisa.wait_for_run("hello", run["run_id"], team="analytics")["state"] == "success"

    new_sha = origin.push_version("new")
    brisa.post("/api/v1/repos/analytics/sync")
    wait_for_dag_at(brisa, "analytics", "hello", new_sha)
    cleared = brisa_cli(brisa, "tasks", "clear", "analytics/hello", run["run_id"], "hello")
    assert cleared.returncode == 0, cleared.stderr
    rerun = brisa.wait_for_run("hello", run["run_id"], team="analytics")

    assert rerun["state"] == "success" and rerun["code_version"] == old_sha
    task = brisa.get(f"{brisa.dag_path('hello', 'analytics')}/runs/{run['run_id']}/tasks/hello")
    assert task["try_number"] == 2 and task["return_value"] == "old"
    shown = brisa_cli(brisa, "runs", "show", "analytics/hello", run["run_id"])
    assert field(shown.stdout, "commit") == old_sha
    assert field(shown.stdout, "repository") == "analytics"
    newer = brisa.trigger("hello", team="analytics")
    assert newer["code_version"] == new_sha
