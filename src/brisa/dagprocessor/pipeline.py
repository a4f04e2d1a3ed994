"""One repository's loop in the DAG processor: sync → publish → parse → advance → collect.

Runs on the repository's period, at once when a sync is requested (webhook, API, CLI), and
backs off with jitter after failures. A failure never unpublishes: the processor keeps the
DAGs of the last good commit, and the status in the store says what went wrong.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from brisa.dagprocessor.processor import DagProcessor
from brisa.repos import snapshots
from brisa.repos.config import RepoSettings
from brisa.repos.layout import RepoLayout
from brisa.repos.sync import RepoSyncer, SyncResult, retry_delay
from brisa.store import Store

log = logging.getLogger("brisa.repos")
REQUEST_POLL = 0.2  # how often a separate DAG processor looks for sync requests in the store
COLLECT_EVERY = 60.0  # seconds between snapshot collections


@dataclass
class Due:
    """When the next sync is due (monotonic seconds) and what last happened. Pure."""

    at: float = 0.0
    failures: int = 0

    def after(self, result: SyncResult, period: float, now: float, rng: random.Random) -> None:
        self.failures = self.failures + 1 if result.error else 0
        wait = retry_delay(period, self.failures, rng) if result.error else period
        self.at = now + wait


class RepoPipeline:
    def __init__(
        self,
        repo: RepoSettings,
        syncer: RepoSyncer,
        processor: DagProcessor,
        store: Store,
        *,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        code_cache: Path | None = None,
    ) -> None:
        self.repo = repo
        self.syncer = syncer
        self.processor = processor
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        # Workers of this machine materialise commits missing locally into this folder.
        self.code_cache = code_cache
        self.wakeup = threading.Event()
        self.due = Due()
        self.parsed_sha: str | None = None
        self._last_request: datetime | None = None
        self._collected_at = 0.0

    def request(self) -> None:
        """Sync now (from this process)."""
        self.wakeup.set()

    def pass_once(self) -> SyncResult:
        """Sync, parse the published commit if it is new to this processor, then record the
        outcome: once a pass is recorded, the DAGs of its commit are in the store."""
        # Recorded as the time the pass started: a caller waiting for a sync it requested
        # (`brisa repos sync --wait`) must not take a pass that began before for it.
        started, timer = self.clock(), time.perf_counter()
        result = self.syncer.sync()
        metrics = self.processor.metrics
        metrics.synced(self.repo.name, result.error is None, time.perf_counter() - timer)
        if result.error:
            log.warning("repository %s: %s", self.repo.name, result.error)
        try:
            self.parse_current()
        finally:
            self.store.record_sync(
                self.repo.name,
                team=self.repo.owner,
                url=self.repo.url,
                sha=result.sha,
                published=result.published,
                error=result.error,
                kind=result.kind,
                now=started,
                subdir=self.repo.subdir,
            )
        return result

    def parse_current(self) -> int:
        """Parse the current snapshot if this processor has not parsed it yet."""
        layout = self.syncer.layout
        sha = layout.current_sha()
        if sha is None or sha == self.parsed_sha:
            return 0
        with layout.lease(sha):
            if not layout.snapshot_dir(sha).is_dir():
                return 0  # collected between the read of the link and the lease
            root = self.repo.dag_root(layout.snapshot_dir(sha))
            if not root.is_dir():
                log.warning(
                    "repository %s: no folder %s in commit %s",
                    self.repo.name,
                    self.repo.subdir,
                    sha[:12],
                )
            parsed = self.processor.process_snapshot(root, sha)
        self.parsed_sha = sha
        log.info("repository %s: commit %s parsed (%d files)", self.repo.name, sha[:12], parsed)
        return parsed

    def collect(self) -> list[str]:
        keep = self.store.pinned_code_versions(self.repo.name)
        if self.parsed_sha:
            keep.add(self.parsed_sha)
        removed: list[str] = self.syncer.collect(keep)
        if self.code_cache is not None:
            cached = RepoLayout.of(self.code_cache, self.repo.name)
            removed += snapshots.collect(cached, keep)
        return removed

    def _requested(self) -> bool:
        """A request made through the store (by an API in another process)."""
        at = self.store.sync_requested_at(self.repo.name)
        if at is None or at == self._last_request:
            return False
        first = self._last_request is None
        self._last_request = at
        return not first

    def run_forever(self, stop: threading.Event) -> None:
        self.store.register_repo(
            self.repo.name, team=self.repo.owner, url=self.repo.url, subdir=self.repo.subdir
        )
        self._requested()  # requests made before this start are answered by the first pass
        while not stop.is_set():
            self._guarded(self._step)
            while not stop.is_set() and time.monotonic() < self.due.at:
                self.processor.metrics.beat(self.repo.name)
                if self.wakeup.wait(REQUEST_POLL) or self._guarded(self._requested):
                    break
            self.wakeup.clear()

    def _step(self) -> bool:
        result = self.pass_once()
        now = time.monotonic()
        self.due.after(result, self.repo.period, now, self.rng)
        if now - self._collected_at > COLLECT_EVERY:
            self._collected_at = now
            removed = self.collect()
            if removed:
                log.info("repository %s: %d old snapshots removed", self.repo.name, len(removed))
        return True

    def _guarded(self, work: Callable[[], Any]) -> bool:
        try:
            return bool(work())
        except Exception:
            log.exception("repository %s: pass failed; retrying", self.repo.name)
            self.due.at = time.monotonic() + min(self.repo.period, 5.0)
            return False
