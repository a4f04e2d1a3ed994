"""The DAG processor: notices new, changed and deleted DAG files, parses them in child
processes with a timeout, and stores the serialized DAGs and import errors.

A broken or hanging file is reported (file, line, traceback) and never affects other DAGs.
Unchanged files are not parsed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from brisa.core.records import ImportErrorRecord
from brisa.core.spec import DagSpec
from brisa.dagprocessor import outcome
from brisa.errors import Conflict
from brisa.metrics.instruments import DagProcessorMetrics, unregistered
from brisa.store import Store
from brisa.worker.containment import kill_descendants

log = logging.getLogger("brisa.dagprocessor.processor")
Clock = Callable[[], datetime]
FileState = tuple[int, int] | str  # (mtime_ns, size) in a folder; content hash in a snapshot


def scan(root: Path, *, by_content: bool = False) -> dict[str, FileState]:
    """Python files under `root` (relative paths), skipping hidden and private ones.

    A folder's files are compared by modification time and size. A snapshot's files all
    carry their commit's time, so they are compared by content (`by_content`).
    """
    found: dict[str, FileState] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in filenames:
            if name.endswith(".py") and not name.startswith((".", "_")):
                path = Path(dirpath) / name
                try:
                    found[str(path.relative_to(root))] = _state(path, by_content)
                except OSError:
                    continue
    return found


def _state(path: Path, by_content: bool) -> FileState:
    if by_content:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def diff(
    previous: dict[str, FileState], current: dict[str, FileState]
) -> tuple[list[str], list[str]]:
    """Files to parse (new or changed) and files gone, both sorted."""
    changed = sorted(f for f, state in current.items() if previous.get(f) != state)
    gone = sorted(set(previous) - set(current))
    return changed, gone


def looks_like_dag_file(path: Path) -> bool:
    """Cheap filter: only files that mention brisa can define Brisa DAGs."""
    try:
        return b"brisa" in path.read_bytes().lower()
    except OSError:
        return False


@dataclass(frozen=True)
class ParseError:
    lineno: int | None
    message: str
    traceback: str = ""


@dataclass(frozen=True)
class ParseResult:
    file: str
    dags: list[DagSpec]
    error: ParseError | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParseResult:
        """One line of the parsing child's output."""
        specs = [DagSpec.from_json(spec) for spec in data["dags"]]
        error = ParseError(**data["error"]) if data["error"] else None
        return cls(data["file"], specs, error)


def parse_files(root: Path, files: list[str], timeout: float) -> list[ParseResult]:
    """Parse files in a child process; a file that takes longer than `timeout` is reported
    as an error and the child restarted for the rest."""
    results: list[ParseResult] = []
    pending = list(files)
    while pending:
        results += _parse_batch(root, pending, timeout)
        done = {r.file for r in results}
        pending = [f for f in pending if f not in done]
    return results


def _parse_batch(root: Path, files: list[str], timeout: float) -> list[ParseResult]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "brisa.dagprocessor.parsing", str(root), *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert proc.stdout is not None
    results: list[ParseResult] = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        buffer = b""
        while len(results) < len(files):
            if not sel.select(timeout):
                return [
                    *results,
                    _failed(
                        files[len(results)],
                        proc,
                        f"parsing took longer than {timeout:g}s "
                        "(dags.parse_timeout); avoid slow work at the top "
                        "level of DAG files",
                    ),
                ]
            chunk = os.read(proc.stdout.fileno(), 1 << 20)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            results += [ParseResult.from_json(json.loads(line)) for line in lines if line]
    if len(results) < len(files):
        return [
            *results,
            _failed(
                files[len(results)], proc, "the parsing process died while importing this file"
            ),
        ]
    proc.wait()
    return results


def _failed(file: str, proc: subprocess.Popen[bytes], message: str) -> ParseResult:
    # The child leads its own session: kill whatever the DAG file started too, first what
    # left the session (the child is its subreaper; its pid is ours until it is waited for).
    kill_descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return ParseResult(file, [], ParseError(None, message))


class DagProcessor:
    """Parses the DAG files of one source (a folder, or the snapshots of one repository) and
    keeps the team's DAGs from that source in the store up to date."""

    def __init__(
        self,
        store: Store,
        root: Path,
        *,
        team: str,
        clock: Clock,
        parse_timeout: float = 30.0,
        repo: str = "dags",
        on_change: Callable[[], None] = lambda: None,
        metrics: DagProcessorMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or unregistered().dag_processor
        self.metrics.beat(repo)
        self.root = root.absolute()
        self.team = team
        self.repo = repo
        self.clock = clock
        self.parse_timeout = parse_timeout
        self.on_change = on_change
        self.code_version = ""
        self._seen: dict[str, FileState] = {}

    def run_once(self) -> int:
        """One pass over the folder; returns how many files were parsed."""
        return self._process(scan(self.root))

    def process_snapshot(self, root: Path, code_version: str) -> int:
        """Parse what changed in a newly published snapshot (read only through `root`, the
        snapshot's own directory), then move the repository's other DAGs to its commit."""
        self.root, self.code_version = root.absolute(), code_version
        return self._process(scan(self.root, by_content=True), force=True)

    def _process(self, current: dict[str, FileState], force: bool = False) -> int:
        changed, gone = diff(self._seen, current)
        if not changed and not gone and not force:
            return 0
        candidates = [f for f in changed if looks_like_dag_file(self.root / f)]
        if len(candidates) < len(changed) and self._seen:
            # A helper module changed: DAG files that import it may define other DAGs now.
            candidates = sorted(f for f in current if looks_like_dag_file(self.root / f))
        before = self._state() if self.code_version else None
        started = time.perf_counter()
        results = parse_files(self.root, candidates, self.parse_timeout)
        errors = sum(1 for r in results if r.error)
        self.metrics.parsed(self.repo, len(results), errors, time.perf_counter() - started)
        self._retire_removed(current, [f for f in changed if f not in candidates], results)
        for result in results:
            self._store_result(result)
        if self.code_version:
            self.store.advance_code_version(
                self.repo, self.code_version, keep_files=self._broken_files(results, current)
            )
        if before is not None:
            self._record_outcome(before, len(candidates))
        self._seen = current
        self.on_change()
        return len(candidates)

    def _state(self) -> tuple[dict[str, str], dict[str, ImportErrorRecord]]:
        """The repository's active DAGs (with their structure) and its failing files."""
        dags = outcome.structures(self.store.list_dags(self.team), self.repo)
        return dags, outcome.failing(self.store.list_import_errors(self.team), self.repo)

    def _record_outcome(
        self, before: tuple[dict[str, str], dict[str, ImportErrorRecord]], parsed: int
    ) -> None:
        """Store what parsing this commit did (the repository page's commit rows)."""
        after = self._state()
        self.store.record_commit_parse(
            outcome.outcome(
                repo=self.repo,
                team=self.team,
                code_version=self.code_version,
                parsed_at=self.clock(),
                files_parsed=parsed,
                before=before[0],
                after=after[0],
                errors_before=before[1],
                errors_after=after[1],
            )
        )

    def _broken_files(self, results: list[ParseResult], current: dict[str, FileState]) -> list[str]:
        """Files that fail to import in this commit: their DAGs stay on their last good one."""
        parsed = {r.file for r in results}
        broken = {r.file for r in results if r.error}
        errors = self.store.list_import_errors(self.team)
        still = {e.filename for e in errors if e.repo == self.repo and e.filename not in parsed}
        return sorted(broken | (still & set(current)))

    def _retire_removed(
        self, current: dict[str, FileState], dropped: list[str], results: list[ParseResult]
    ) -> None:
        """Retire the DAGs of deleted files, of files that are no longer DAG files, and those
        that a file imported without error no longer defines. Done before publishing, so that a
        DAG moved to another file (or a renamed file) is not taken for a duplicate of itself."""
        self.store.retire_dags(self.team, repo=self.repo, present_files=current)
        for f in dropped:
            self.store.retire_dags(self.team, repo=self.repo, fileloc=f)
            self.store.clear_import_error(self.team, f, repo=self.repo)
        for result in results:
            # A file that fails to import keeps its last good DAGs.
            if result.error is None:
                keep = [spec.dag_id for spec in result.dags]
                self.store.retire_dags(self.team, repo=self.repo, fileloc=result.file, keep=keep)

    def _store_result(self, result: ParseResult) -> None:
        now = self.clock()
        error = result.error
        for spec in result.dags:
            try:
                self.store.publish_dag(
                    self.team,
                    spec,
                    fileloc=result.file,
                    code_version=self.code_version,
                    now=now,
                    repo=self.repo,
                )
            except Conflict as exc:
                error = ParseError(spec.lineno, str(exc))
        if error:
            log.warning("import error in %s: %s", result.file, error.message)
            self.store.record_import_error(
                self.team,
                result.file,
                lineno=error.lineno,
                message=error.message,
                traceback=error.traceback,
                now=now,
                repo=self.repo,
                code_version=self.code_version,
            )
        else:
            self.store.clear_import_error(self.team, result.file, repo=self.repo)

    def run_forever(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            started = time.monotonic()
            self.metrics.beat(self.repo)
            try:
                self.run_once()
            except Exception:
                log.exception("DAG processing pass failed; retrying")
            stop.wait(max(interval - (time.monotonic() - started), 0.05))
