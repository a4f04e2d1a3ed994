"""The git token never shows in any process's environment or command line during a real sync.

A scanner thread reads every /proc/*/environ and /proc/*/cmdline in a tight loop while the
syncer talks to a loopback smart-HTTP server behind Basic auth. The server holds each fetch for
a while, so git, git-remote-http and the credential helper are alive long enough to be read.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from pathlib import Path

import pytest

from brisa.repos.config import RepoSettings, check
from brisa.repos.sync import RepoSyncer
from support.gitserver import HttpGitServer, Upstream


class ProcScanner:
    """Reads /proc/*/environ and /proc/*/cmdline until stopped; remembers where `needle` was
    seen and how many live git processes it read (so a test can tell it really looked)."""

    def __init__(self, needle: bytes, marker: bytes) -> None:
        self.needle = needle
        self.marker = marker
        self.hits: set[str] = set()
        self.git_reads = 0
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        proc = Path("/proc")
        while not self._stop.is_set():
            for entry in proc.iterdir():
                if entry.name.isdigit():
                    self._read(entry)
            self.passes += 1

    def _read(self, entry: Path) -> None:
        for name in ("environ", "cmdline"):
            with contextlib.suppress(OSError):
                data = (entry / name).read_bytes()
                if self.needle in data:
                    self.hits.add(f"{entry}/{name}")
                if name == "environ" and self.marker in data:
                    self.git_reads += 1


@pytest.mark.parametrize("source", ["password_file", "password_env"])
def test_the_token_is_in_no_environ_or_cmdline_while_git_syncs(tmp_path: Path, source: str) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    upstream = Upstream(tmp_path / "srv")
    upstream.commit({"dags/hello.py": "HELLO = 1\n"}, "first")
    token_file = tmp_path / "secrets" / "token"
    token_file.parent.mkdir()
    token_file.write_text(canary + "\n")
    where = {"password_file": str(token_file)} if source == "password_file" else {}
    where |= {"password_env": "TEAM_TOKEN"} if source == "password_env" else {}
    root = tmp_path / "repos"
    with HttpGitServer(upstream.base, username="bot", token=canary, fetch_delay=1.0) as server:
        settings = RepoSettings(name="team-a", url=server.url(), username="bot", **where)  # type: ignore[arg-type]
        syncer = RepoSyncer(check(settings), root, objects=None, environ={"TEAM_TOKEN": canary})
        # Every git process of the syncer runs with GIT_DIR set to the repository's cache.
        with ProcScanner(canary.encode(), f"GIT_DIR={root}".encode()) as scanner:
            result = syncer.sync()
        assert result.error is None, result.error
        assert server.fetches >= 1 and server.refused >= 1  # git really authenticated
    assert scanner.git_reads > 10, "the scanner never saw git running"
    assert scanner.passes > 10
    assert sorted(scanner.hits) == []
    # Nothing the credential helper used is left behind.
    assert not any(canary.encode() in p.read_bytes() for p in root.rglob("*") if p.is_file())
