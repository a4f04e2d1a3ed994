"""A run's pinned commit reaches the worker: from the syncer's local snapshot, the worker's
cache, the snapshot's tarball in the object store, or a shallow git fetch by SHA, with real
git repositories, real tarballs, real object stores (a folder and moto's S3) and, at the end,
real `brisa task run` processes against a small fake execution API."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from brisa.core.records import CodeRef, WorkItem
from brisa.core.spec import PythonCall, ShellCommand, TaskSpec
from brisa.errors import InvalidInput
from brisa.logs import layout as tasklogs
from brisa.objectstore import ObjectInfo, ObjectStore, open_object_store
from brisa.repos import snapshots
from brisa.repos.git import base_env
from brisa.repos.layout import RepoLayout, tarball_key
from brisa.repos.materialise import CodeUnavailable, Materialised, materialise
from support.gitserver import IDENTITY

REPO = "analytics"
SUBDIR = "dags"
GIT_ENV = base_env(IDENTITY)

DAG_FILE = """
from brisa import DAG, shell, task
from helper import VERSION  # a module next to the DAG file, found through the DAG root

with DAG("pinned", schedule=None, retries=0):
    @task
    def which():
        print(f"running version {VERSION}")
        return VERSION

    which() >> shell("marker", "cat marker.txt")
"""


def git(*args: str, cwd: Path) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, check=True)
    return done.stdout


@dataclass
class Origin:
    """A bare repository (the remote) and the clone its commits are pushed from."""

    bare: Path
    work: Path
    commits: list[str]

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def commit(self, version: str) -> str:
        dags = self.work / SUBDIR
        dags.mkdir(exist_ok=True)
        (dags / "pinned.py").write_text(DAG_FILE)
        (dags / "helper.py").write_text(f"VERSION = {version!r}\n")
        (dags / "marker.txt").write_text(f"marker {version}\n")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", f"version {version}", cwd=self.work)
        sha = git("rev-parse", "HEAD", cwd=self.work).decode().strip()
        self.commits.append(sha)
        return sha

    def push(self, *, force: bool = False) -> None:
        git("push", "-q", *(["--force"] if force else []), "origin", "HEAD:main", cwd=self.work)

    def archive(self, sha: str, fmt: str = "tar") -> bytes:
        return git("archive", f"--format={fmt}", sha, cwd=self.bare)

    def snapshot(self, repos_root: Path, sha: str) -> Path:
        """Publish `sha` the way the syncer lays it out: the commit's whole tree."""
        target = RepoLayout.of(repos_root, REPO).snapshot_dir(sha)
        target.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(self.archive(sha)), mode="r:") as tar:
            tar.extractall(target, filter="data")
        return target

    def upload(self, objects: ObjectStore, sha: str) -> None:
        objects.put(tarball_key(REPO, sha), self.archive(sha, "tar.gz"))

    def code(self, sha: str) -> CodeRef:
        return CodeRef(repo=REPO, sha=sha, subdir=SUBDIR, url=self.url)


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    """Two commits, "one" and "two" (the tip of main), of a DAG folder in a bare repo."""
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    # Workers fetch a commit by SHA. Git's protocol v2 (which workers speak) serves any
    # object asked for by SHA; under protocol v0 upload-pack needs this setting, which
    # GitHub and GitLab have on. Set here so the test does not hang on the protocol.
    git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=bare)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    found = Origin(bare, work, [])
    found.commit("one")
    found.commit("two")
    found.push()
    return found


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """(repos root, code cache): both empty."""
    return tmp_path / "repos", tmp_path / "cache"


def get(
    origin: Origin, sha: str, roots: tuple[Path, Path], objects: ObjectStore | None = None
) -> Materialised:
    repos_root, cache = roots
    return materialise(
        origin.code(sha), repos_root=repos_root, cache_root=cache, objects=objects, timeout=30
    )


def version(held: Materialised) -> str:
    return (held.root / "helper.py").read_text().split("=")[1].strip().strip("'")


def leased(root: Path, sha: str) -> bool:
    """Whether a reader holds `sha` (the collector cannot take it exclusively)."""
    exclusive = RepoLayout.of(root, REPO).try_exclusive(sha)
    if exclusive is None:
        return True
    exclusive.release()
    return False


def leftovers(cache: Path) -> list[str]:
    return [p.name for p in (cache / REPO / "snapshots").iterdir() if p.name.startswith(".")]


# --- Local snapshot and plain folder ----------------------------------------------------------


def test_a_local_snapshot_is_used_and_leased_never_the_current_link(
    origin: Origin, roots: tuple[Path, Path]
) -> None:
    one, two = origin.commits
    repos_root = roots[0]
    snapshot = origin.snapshot(repos_root, one)
    origin.snapshot(repos_root, two)
    RepoLayout.of(repos_root, REPO).publish(two)  # the tip moved on; the run is pinned to one
    with get(origin, one, roots) as held:
        assert (held.source, held.tree, held.root) == ("snapshot", snapshot, snapshot / SUBDIR)
        assert "current" not in held.root.parts and version(held) == "one"
        assert leased(repos_root, one) and not leased(repos_root, two)
    assert not leased(repos_root, one)
    assert not roots[1].exists(), "nothing is downloaded when the snapshot is local"


def test_a_snapshot_collected_while_the_worker_waits_for_its_lease_is_not_used(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    one = origin.commits[0]
    snapshot = origin.snapshot(roots[0], one)
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    origin.upload(objects, one)
    collector = RepoLayout.of(roots[0], REPO).try_exclusive(one)
    assert collector is not None
    result: list[Materialised] = []
    reader = threading.Thread(target=lambda: result.append(get(origin, one, roots, objects)))
    reader.start()
    reader.join(0.5)
    assert reader.is_alive(), "the worker must wait while the collector holds the snapshot"
    shutil.rmtree(snapshot)  # what the collector does with a snapshot it holds
    collector.release()
    reader.join(10)
    assert result[0].source == "tarball" and version(result[0]) == "one"
    result[0].release()


def test_a_plain_folder_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "src" / SUBDIR).mkdir(parents=True)
    code = CodeRef(repo="dev", subdir=SUBDIR, path=str(tmp_path / "src"))
    held = materialise(code, repos_root=None, cache_root=None, objects=None, timeout=5)
    assert (held.source, held.root) == ("folder", tmp_path / "src" / SUBDIR)
    with pytest.raises(CodeUnavailable, match=r"folder .*/gone/dags of repo dev does not exist"):
        materialise(
            replace(code, path=str(tmp_path / "gone")),
            repos_root=None,
            cache_root=None,
            objects=None,
            timeout=5,
        )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"sha": "abc123"}, "not a full 40-character commit SHA"),
        ({"subdir": "../elsewhere"}, "must be a relative path"),
        ({"repo": "../up"}, "not a repository name"),
    ],
)
def test_a_malformed_code_description_is_refused(
    origin: Origin, roots: tuple[Path, Path], change: dict[str, str], error: str
) -> None:
    code = replace(origin.code(origin.commits[0]), **change)
    with pytest.raises(InvalidInput, match=error):
        materialise(code, repos_root=roots[0], cache_root=roots[1], objects=None, timeout=5)


# --- Tarball from the object store ------------------------------------------------------------


def test_the_tarball_is_used_when_there_is_no_local_snapshot_then_the_cache(
    origin: Origin, roots: tuple[Path, Path], object_store: ObjectStore
) -> None:
    one = origin.commits[0]
    origin.upload(object_store, one)
    with get(origin, one, roots, object_store) as held:
        assert held.source == "tarball" and version(held) == "one"
        assert held.tree == RepoLayout.of(roots[1], REPO).snapshot_dir(one)
        assert leased(roots[1], one)
    assert not leased(roots[1], one) and leftovers(roots[1]) == []
    with get(origin, one, roots, object_store) as again:
        assert again.source == "cache" and again.tree == held.tree


def test_the_tarball_still_serves_a_commit_force_pushed_away_and_collected(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    two = origin.commits[1]
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    origin.upload(objects, two)  # published by the syncer while `two` was the tip
    git("reset", "-q", "--hard", "HEAD~1", cwd=origin.work)
    origin.commit("rewritten")
    origin.push(force=True)
    git("reflog", "expire", "--expire=now", "--all", cwd=origin.bare)
    git("gc", "-q", "--prune=now", cwd=origin.bare)
    gone = subprocess.run(["git", "cat-file", "-e", two], cwd=origin.bare, env=GIT_ENV)
    assert gone.returncode != 0, "the commit should be gone from the remote"

    with pytest.raises(CodeUnavailable) as raised:
        get(origin, two, (roots[0], tmp_path / "other-cache"), None)
    message = str(raised.value)
    assert f"commit {two} of repo {REPO} is not available" in message
    assert "force-pushed away and garbage-collected" in message

    with get(origin, two, roots, objects) as held:
        assert held.source == "tarball" and version(held) == "two"


def test_tarball_entries_that_would_land_outside_the_tree_are_left_out(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    one = origin.commits[0]
    tarball = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(origin.archive(one)), mode="r:") as good,
        tarfile.open(fileobj=tarball, mode="w:gz") as tar,
    ):
        for member in good.getmembers():
            tar.addfile(member, good.extractfile(member))
        escaping = tarfile.TarInfo("../../escaped.txt")
        escaping.size = 4
        tar.addfile(escaping, io.BytesIO(b"evil"))
        link = tarfile.TarInfo(f"{SUBDIR}/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    objects.put(tarball_key(REPO, one), tarball.getvalue())
    with get(origin, one, roots, objects) as held:
        assert held.source == "tarball" and version(held) == "one"
        assert sorted(p.name for p in held.root.iterdir()) == [
            "helper.py",
            "marker.txt",
            "pinned.py",
        ]
        assert (held.root / "helper.py").stat().st_mode & 0o222 == 0, "read-only, like snapshots"
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_corrupt_tarball_falls_back_to_a_fetch(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    one = origin.commits[0]
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    objects.put(tarball_key(REPO, one), b"not a gzip file")
    with get(origin, one, roots, objects) as held:
        assert held.source == "fetch" and version(held) == "one"
    no_url = replace(origin.code(one), url="")
    with pytest.raises(CodeUnavailable, match=r"tarball .* could not be extracted \(.*gzip"):
        materialise(no_url, repos_root=None, cache_root=tmp_path / "c2", objects=objects, timeout=5)


def test_the_syncers_collector_prunes_the_cache_once_no_attempt_holds_it(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    one = origin.commits[0]
    cache = RepoLayout.of(roots[1], REPO)
    with get(origin, one, roots, open_object_store(f"file://{tmp_path / 'o'}")) as held:
        assert held.source == "fetch"
        assert snapshots.collect(cache, protect=set()) == []
    assert snapshots.collect(cache, protect=set()) == [one]
    assert not held.tree.exists()


# --- Shallow fetch by SHA, and nothing at all -------------------------------------------------


def test_a_commit_is_fetched_by_sha_when_there_is_no_snapshot_nor_tarball(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    one = origin.commits[0]  # not the tip of any branch any more
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    with get(origin, one, roots, objects) as held:
        assert held.source == "fetch" and version(held) == "one"
        assert sorted(p.name for p in held.tree.iterdir()) == [SUBDIR]  # the tree, no .git
        assert leased(roots[1], one)
    assert leftovers(roots[1]) == []


def test_an_unavailable_commit_fails_naming_everything_that_was_tried(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    missing = "0123456789abcdef0123456789abcdef01234567"
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    with pytest.raises(CodeUnavailable) as raised:
        get(origin, missing, roots, objects)
    message = str(raised.value)
    for expected in (
        f"commit {missing} of repo {REPO} is not available: ",
        f"no local snapshot {roots[0]}/{REPO}/snapshots/{missing}",
        f"no tarball {objects.location}/_code/{REPO}/{missing}.tar.gz",
        f"fetch from {origin.url} failed: git fetch failed: ",
        "not our ref",
        "(the commit may have been force-pushed away and garbage-collected)",
    ):
        assert expected in message
    assert leftovers(roots[1]) == [] and not leased(roots[1], missing)
    with pytest.raises(CodeUnavailable, match=r"BRISA_REPOS_ROOT.*BRISA_CODE_CACHE"):
        materialise(origin.code(missing), repos_root=None, cache_root=None, objects=None, timeout=5)


# --- Two workers racing for the same commit ---------------------------------------------------


class RacingStore:
    """A folder store whose reads wait until both workers are reading: both have decided to
    download, so both extract and race to rename their tree into place."""

    def __init__(self, inner: ObjectStore, barrier: threading.Barrier) -> None:
        self.inner, self.barrier, self.location = inner, barrier, inner.location

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        self.barrier.wait(10)
        return self.inner.get(key, start, end)

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, keys: Iterable[str]) -> None:
        self.inner.delete(keys)


def test_two_workers_materialising_the_same_commit_both_succeed(
    origin: Origin, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    one = origin.commits[0]
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    origin.upload(objects, one)
    racing = RacingStore(objects, threading.Barrier(2))
    results: list[Materialised] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(get(origin, one, roots, racing))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == [] and [r.source for r in results] == ["tarball", "tarball"]
    assert results[0].tree == results[1].tree and version(results[0]) == "one"
    assert sorted(p.name for p in results[0].root.iterdir()) == [
        "helper.py",
        "marker.txt",
        "pinned.py",
    ]
    assert leftovers(roots[1]) == []
    for held in results:
        held.release()


# --- Through `brisa task run` -------------------------------------------------------------------


class FakeExecutionAPI:
    """The execution API's three calls for attempt 1 of task instance 1: start returns the
    work item, heartbeats are accepted, finish is recorded."""

    def __init__(self) -> None:
        self.item: dict[str, Any] = {}
        self.finished: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                verb = self.path.rsplit("/", 1)[1]
                answer: Any = None
                if verb == "start":
                    answer = api.item
                elif verb == "finish":
                    api.finished.append(body)
                    answer = {"state": body["state"]}
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api() -> Iterator[FakeExecutionAPI]:
    fake = FakeExecutionAPI()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def work_item(code: CodeRef, task: TaskSpec) -> dict[str, Any]:
    """The execution API's answer to the worker's start, as JSON."""
    day = datetime(2024, 5, 1, tzinfo=UTC)
    return WorkItem(
        team="default",
        dag_id="pinned",
        task_id=task.task_id,
        run_id=f"manual__{uuid.uuid4().hex[:8]}",
        try_number=1,
        logical_date=day,
        data_interval_start=day,
        data_interval_end=day,
        params={},
        fileloc="pinned.py",
        code_version=code.sha,
        task=task,
        upstream_values={},
        code=code,
    ).to_json()


def run_worker(api: FakeExecutionAPI, tmp_path: Path, extra: dict[str, str]) -> str:
    """Run `brisa task run` for the API's item; its output (when it is not shipped)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # The sources under test, when they are not the installed ones.
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        "BRISA_API_URL": api.url,
        "BRISA_EXECUTION_TOKEN": "attempt-token",
        "BRISA_DAGS_FOLDER": str(tmp_path / "not-used"),
        **extra,
    }
    done = subprocess.run(
        [sys.executable, "-m", "brisa", "task", "run", "--ti", "1", "--try", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout + done.stderr


PYTHON_TASK = TaskSpec("which", PythonCall("which"))
SHELL_TASK = TaskSpec("marker", ShellCommand("cat marker.txt"))


def test_the_worker_runs_the_pinned_commit_from_the_local_snapshot(
    origin: Origin, roots: tuple[Path, Path], api: FakeExecutionAPI, tmp_path: Path
) -> None:
    one, two = origin.commits
    origin.snapshot(roots[0], one)
    origin.snapshot(roots[0], two)
    RepoLayout.of(roots[0], REPO).publish(two)
    env = {"BRISA_REPOS_ROOT": str(roots[0]), "BRISA_CODE_CACHE": str(roots[1])}
    for task, expected in ((PYTHON_TASK, "one"), (SHELL_TASK, "marker one")):
        api.item = work_item(origin.code(one), task)
        output = run_worker(api, tmp_path, env)
        assert api.finished[-1]["state"] == "success", output
        assert api.finished[-1]["return_value"] == expected
        assert f"brisa: code: repo {REPO} commit {one[:7]} from snapshot" in output


def test_the_worker_runs_the_pinned_commit_from_the_tarball_and_logs_it(
    origin: Origin, roots: tuple[Path, Path], api: FakeExecutionAPI, tmp_path: Path
) -> None:
    one = origin.commits[0]
    logs = tmp_path / "store"
    origin.upload(open_object_store(f"file://{logs}"), one)
    api.item = work_item(origin.code(one), PYTHON_TASK)
    env = {
        "BRISA_REPOS_ROOT": str(tmp_path / "elsewhere"),  # another machine: no snapshots here
        "BRISA_CODE_CACHE": str(roots[1]),
        "BRISA_LOGS_LOCATION": f"file://{logs}",
    }
    output = run_worker(api, tmp_path, env)
    assert api.finished == [{"state": "success", "return_value": "one", "error": None}], output
    item = api.item
    prefix = tasklogs.attempt_prefix("default", "pinned", item["run_id"], "which", 1)
    log = tasklogs.read(open_object_store(f"file://{logs}"), prefix, 0, 1 << 20)[0].decode()
    assert f"brisa: code: repo {REPO} commit {one[:7]} from tarball" in log
    assert "running version one" in log


def test_an_unavailable_commit_fails_the_attempt_with_the_reason(
    origin: Origin, roots: tuple[Path, Path], api: FakeExecutionAPI, tmp_path: Path
) -> None:
    missing = "89abcdef0123456789abcdef0123456789abcdef"
    api.item = work_item(origin.code(missing), PYTHON_TASK)
    env = {"BRISA_REPOS_ROOT": str(roots[0]), "BRISA_CODE_CACHE": str(roots[1])}
    output = run_worker(api, tmp_path, env)
    [finished] = api.finished
    assert finished["state"] == "failed", output
    assert finished["error"].startswith(f"commit {missing} of repo {REPO} is not available: ")
    assert "force-pushed away" in finished["error"]
    assert "Traceback" not in output and "brisa: recorded as failed" in output


def test_a_work_item_the_worker_cannot_read_fails_the_attempt_saying_why(
    origin: Origin, api: FakeExecutionAPI, tmp_path: Path
) -> None:
    item = work_item(origin.code(origin.commits[0]), SHELL_TASK)
    item["task"]["kind"] = "teleport"  # a kind from a newer API
    api.item = item
    output = run_worker(api, tmp_path, {})
    [finished] = api.finished
    assert finished["state"] == "failed", output
    assert "cannot read its work item" in finished["error"]
    assert "unknown kind 'teleport'" in finished["error"]
