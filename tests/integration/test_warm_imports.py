"""`[executor] warm_imports` (ADR 0014): a DAG file is imported once per team, commit and file
in a warm process of the fork server, and that file's workers are forked from it; nothing is
shared across teams or commits, and a file that cannot be (or must not be) warmed is imported
by each attempt as before.

Real fork server, real workers, against a small execution API served here; the DAG file
appends a line to a counter file each time it is imported."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from brisa.core.records import AttemptRef, CodeRef, WorkItem
from brisa.core.spec import PythonCall, TaskSpec
from brisa.executor.base import LaunchRequest
from brisa.executor.local.executor import LocalExecutor
from brisa.repos.layout import RepoLayout
from brisa.testing.server import eventually
from brisa.worker.env import WorkerEnv
from brisa.worker.warmed import OPT_OUT, WarmKey

REPO = "warmrepo"
ONE, TWO = "1" * 40, "2" * 40
DAG_FILE = """
import os
from brisa import DAG, task

with open(os.environ["WARM_COUNTER"], "a") as f:
    f.write("imported\\n")
{extra}
with DAG("counted"):

    @task
    def mark():
        with open(os.environ["WARM_MARKS"], "a") as f:
            f.write(f"{{os.getpid()}} {{os.getppid()}}\\n")

    mark()
"""


class Api(ThreadingHTTPServer):
    """Answers `start` with the work item registered for the task instance; notes `finish`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.items: dict[int, dict[str, Any]] = {}
        self.finished: dict[int, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Api

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")  # execution v1 attempts TI TRY VERB
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        ti, verb = int(parts[3]), parts[5]
        if verb == "start":
            self._reply(200, self.server.items[ti])
        elif verb == "finish":
            self.server.finished[ti] = body
            self._reply(200, {"state": body["state"]})
        else:
            self._reply(204, None)

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


class World:
    def __init__(self, tmp_path: Path, api: Api, local: LocalExecutor) -> None:
        self.tmp_path, self.api, self.local = tmp_path, api, local
        self.repos = tmp_path / "repos"
        self.counter, self.marks = tmp_path / "counter", tmp_path / "marks"
        self._ti = 0

    def commit(self, sha: str, extra: str = "", fileloc: str = "counted.py") -> None:
        snapshot = RepoLayout.of(self.repos, REPO).snapshot_dir(sha)
        snapshot.mkdir(parents=True, exist_ok=True)
        (snapshot / fileloc).write_text(DAG_FILE.format(extra=extra))

    def run(
        self, sha: str, team: str = "default", fileloc: str = "counted.py", path: str = ""
    ) -> dict[str, Any]:
        """Launch one attempt of `mark` from that commit (or folder) for that team; its finish
        call."""
        self._ti += 1
        ti, code = self._ti, CodeRef(repo=REPO, sha=sha, path=path)
        self.api.items[ti] = _item(team, fileloc, code)
        log = self.tmp_path / f"ti{ti}.log"
        key = WarmKey(team, fileloc, code)
        self.local.launch(LaunchRequest(AttemptRef(ti, 1), f"token-{ti}", log, warm=key))
        try:
            eventually(lambda: ti in self.api.finished, 20.0)
        except TimeoutError:
            raise AssertionError(log.read_text() if log.exists() else "no log") from None
        eventually(lambda: not self.local.alive(), 20.0)
        return self.api.finished[ti]

    def write(self, name: str, text: str) -> None:
        """A file of the plain DAG folder, replaced as an editor or a checkout would."""
        folder = self.tmp_path / "dags"
        folder.mkdir(exist_ok=True)
        (folder / f".{name}").write_text(text)
        (folder / f".{name}").replace(folder / name)

    def imports(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0

    def parents(self) -> list[int]:
        return [int(line.split()[1]) for line in self.marks.read_text().splitlines()]


HELPED = DAG_FILE.replace("import os\n", "import os\nimport helper\n")


def _item(team: str, fileloc: str, code: CodeRef) -> dict[str, Any]:
    when = datetime.now(UTC)
    item = WorkItem(team=team, dag_id="counted", task_id="mark", run_id="manual__w",
                    try_number=1, logical_date=when, data_interval_start=when,
                    data_interval_end=when, params={}, fileloc=fileloc, code_version=code.sha,
                    task=TaskSpec("mark", PythonCall(function="mark")), upstream_values={},
                    repo=code.repo, code=code)  # fmt: skip
    return item.to_json()


def world(tmp_path: Path, api: Api, mp: pytest.MonkeyPatch, **warm: Any) -> Iterator[World]:
    mp.setenv("WARM_COUNTER", str(tmp_path / "counter"))
    mp.setenv("WARM_MARKS", str(tmp_path / "marks"))
    config = WorkerEnv(
        api_url=api.url, repos_root=str(tmp_path / "repos"), dags_folder=str(tmp_path / "dags")
    )
    limits = (warm.get("limit", 8), warm.get("idle", 60.0)) if warm.get("on", True) else None
    local = LocalExecutor(scope="t", parallelism=4, state_dir=tmp_path / "workers",
                          worker=config, warm=limits)  # fmt: skip
    try:
        yield World(tmp_path, api, local)
    finally:
        local.close()


@pytest.fixture
def w(tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from world(tmp_path, api, monkeypatch)


def test_the_same_commits_attempts_import_the_file_once(w: World) -> None:
    w.commit(ONE)
    for _ in range(3):
        assert w.run(ONE)["state"] == "success"
    assert w.imports() == 1
    parents = w.parents()
    assert len(set(parents)) == 1, "every worker was forked from the one warm process"


def test_without_warm_imports_each_attempt_imports_the_file(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cold in world(tmp_path, api, monkeypatch, on=False):
        cold.commit(ONE)
        assert cold.run(ONE)["state"] == "success"
        assert cold.run(ONE)["state"] == "success"
        assert cold.imports() == 2


def test_a_new_commit_gets_a_warm_process_of_its_own(w: World) -> None:
    w.commit(ONE)
    w.commit(TWO)
    assert w.run(ONE)["state"] == "success"
    assert w.run(TWO)["state"] == "success"
    assert w.run(ONE)["state"] == "success"
    assert w.imports() == 2
    first, second, third = w.parents()
    assert first == third != second


def test_two_teams_never_share_a_warm_process(w: World) -> None:
    w.commit(ONE)
    assert w.run(ONE, team="a")["state"] == "success"
    assert w.run(ONE, team="b")["state"] == "success"
    assert w.run(ONE, team="b")["state"] == "success"
    assert w.imports() == 2
    a, b, b_again = w.parents()
    assert a != b == b_again


def test_a_file_that_fails_to_import_falls_back_to_the_attempts_own_import(w: World) -> None:
    w.commit(ONE, extra="raise RuntimeError('broken at import')")
    first, second = w.run(ONE), w.run(ONE)
    for finished in (first, second):
        assert finished["state"] == "failed"
        assert "cannot import counted.py: RuntimeError: broken at import" in finished["error"]
    assert w.imports() == 3, "the warm try, then each attempt's own import"


def test_a_file_that_opts_out_is_imported_by_each_attempt(w: World) -> None:
    w.commit(ONE, extra=OPT_OUT)
    assert w.run(ONE)["state"] == "success"
    assert w.run(ONE)["state"] == "success"
    assert w.imports() == 2


def test_an_attempt_whose_work_item_is_not_the_warm_key_imports_its_own_code(w: World) -> None:
    w.commit(ONE)
    w.commit(TWO, extra="MARKER = 2")
    w.run(ONE)
    # Launched under ONE's key, but the API says the run is pinned to TWO.
    w._ti += 1
    w.api.items[w._ti] = _item("default", "counted.py", CodeRef(repo=REPO, sha=TWO))
    key = WarmKey("default", "counted.py", CodeRef(repo=REPO, sha=ONE))
    w.local.launch(LaunchRequest(AttemptRef(w._ti, 1), "t", w.tmp_path / "x.log", warm=key))
    eventually(lambda: w._ti in w.api.finished, 20.0)
    assert w.api.finished[w._ti]["state"] == "success"
    assert w.imports() == 2, "the attempt imported TWO's file itself"


def test_warm_processes_are_bounded_in_number_and_idle_time(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bounded in world(tmp_path, api, monkeypatch, limit=1, idle=1.0):
        bounded.commit(ONE)
        bounded.commit(TWO)
        bounded.run(ONE)
        bounded.run(TWO)  # ends ONE's warm process: one at most
        bounded.run(ONE)
        assert bounded.imports() == 3
        bounded.run(ONE)
        assert bounded.imports() == 3
        time.sleep(1.5)  # ONE's warm process expires
        bounded.run(ONE)
        assert bounded.imports() == 4


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid
            ):
                found.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return found


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_a_warm_process_keeps_one_worker_forked_ahead_and_ends_it_when_it_exits(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bounded in world(tmp_path, api, monkeypatch, idle=1.0):
        bounded.commit(ONE)
        bounded.run(ONE)
        bounded.run(ONE)
        first, second = bounded.parents()
        assert first == second, "both workers are forks of one warm process"
        (spare,) = _children(first)  # the next launch's worker, waiting for it
        assert spare not in {
            int(line.split()[0]) for line in bounded.marks.read_text().splitlines()
        }
        time.sleep(1.5)  # the warm process expires
        eventually(lambda w=first, s=spare: not _children(w) and not _alive(s), 10.0)


@pytest.mark.parametrize("named", [False, True], ids=["worker-dag-folder", "repo-path"])
def test_a_plain_folders_file_is_imported_once_while_it_and_its_helpers_are_unchanged(
    w: World, named: bool
) -> None:
    # No commit (sha ""): the worker's DAG folder, or the folder the run's repository names
    # (`[dags] folder`), as it is at each launch.
    path = str(w.tmp_path / "dags") if named else ""
    w.write("helper.py", "VALUE = 1\n")
    w.write("counted.py", HELPED.format(extra=""))
    for _ in range(3):
        assert w.run("", path=path)["state"] == "success"
    assert w.imports() == 1
    assert len(set(w.parents())) == 1
    w.write("helper.py", "VALUE = 2\n")  # a helper changed: the import is not good any more
    assert w.run("", path=path)["state"] == "success"
    assert w.imports() == 2, "the attempt imported the folder as it is now"
    assert w.run("", path=path)["state"] == "success"
    assert w.run("", path=path)["state"] == "success"
    assert w.imports() == 3, "one new warm import, then forks of it"
    w.write("counted.py", HELPED.format(extra="CHANGED = True"))
    assert w.run("", path=path)["state"] == "success"
    assert w.imports() == 4


def test_a_plain_folders_file_that_opts_out_is_imported_by_each_attempt(w: World) -> None:
    w.write("counted.py", DAG_FILE.format(extra=OPT_OUT))
    assert w.run("")["state"] == "success"
    assert w.run("")["state"] == "success"
    assert w.imports() == 2
