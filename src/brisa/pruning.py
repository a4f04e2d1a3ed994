"""Retention of the store's own records (`[retention]`): the audit record's entries older than
`audit_days`, and each repository's parsed commits beyond its `commit_parses_per_repo` newest
(its current commit and its DAGs' commits always stay). A housekeeping job on its own timer
(`[retention] interval`) deletes them in batches of BATCH rows, each its own short
transaction, at most MAX_BATCHES batches per table (and repository) and run: a large backlog
goes over several runs, never in one long lock. What it deleted is logged and counted
(`brisa_retention_deleted_rows_total{table}`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from brisa.metrics.instruments import RetentionMetrics
from brisa.opssettings import RetentionSettings
from brisa.store import Store

log = logging.getLogger("brisa.pruning")

BATCH = 1000  # rows per delete statement (and transaction)
MAX_BATCHES = 50  # per table and run: at most 50,000 rows of each a run
FIRST_AFTER = timedelta(minutes=2)  # leave a starting process alone for a moment


@dataclass(frozen=True)
class Pruned:
    """Rows one run deleted, by table; `more`: it stopped at MAX_BATCHES with rows left."""

    audit_log: int = 0
    commit_parses: int = 0
    more: bool = False


class RecordRetention:
    """Deletes what is past `[retention]`'s limits: one pass per `run`."""

    def __init__(
        self,
        store: Callable[[], Store],
        settings: RetentionSettings,
        *,
        clock: Callable[[], datetime],
        metrics: RetentionMetrics | None = None,
        batch: int = BATCH,
        max_batches: int = MAX_BATCHES,
    ) -> None:
        self._store = store  # opened on the first run, not when the process starts
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.batch = batch
        self.max_batches = max_batches

    def run(self) -> Pruned:
        """One pass over both tables (errors propagate: housekeeping logs them)."""
        audit, more_audit = self._audit()
        parses, more_parses = self._commit_parses()
        if self.metrics is not None:
            self.metrics.pruned("audit_log", audit)
            self.metrics.pruned("commit_parses", parses)
            self.metrics.finished()
        done = Pruned(audit, parses, more_audit or more_parses)
        if audit or parses:
            log.info(
                "retention deleted %d audit entries (older than %d days) and %d parsed "
                "commits (beyond the newest %d per repository)%s",
                audit,
                self.settings.audit_days,
                parses,
                self.settings.commit_parses_per_repo,
                "; more are left for the next run" if done.more else "",
            )
        return done

    def _audit(self) -> tuple[int, bool]:
        days = self.settings.audit_days
        if days <= 0:
            return 0, False
        before = self.clock() - timedelta(days=days)
        return self._batches(lambda: self._store().prune_audit(before, self.batch))

    def _commit_parses(self) -> tuple[int, bool]:
        keep = self.settings.commit_parses_per_repo
        if keep <= 0:
            return 0, False
        total, more = 0, False
        for repo, count in sorted(self._store().commit_parse_counts().items()):
            if count > keep:
                one = partial(self._store().prune_commit_parses, repo, keep, self.batch)
                deleted, left = self._batches(one)
                total, more = total + deleted, more or left
        return total, more

    def _batches(self, one: Callable[[], int]) -> tuple[int, bool]:
        """Call `one` (a batch; how many rows it deleted) until a batch is short or
        max_batches ran; the rows deleted, and whether more may be left."""
        total = 0
        for _ in range(self.max_batches):
            deleted = one()
            total += deleted
            if deleted < self.batch:
                return total, False
        return total, True


def configured(
    settings: RetentionSettings,
    store: Callable[[], Store],
    clock: Callable[[], datetime],
    metrics: RetentionMetrics | None,
) -> RecordRetention | None:
    """The job as `[retention]` describes it; None when it keeps everything."""
    if settings.audit_days <= 0 and settings.commit_parses_per_repo <= 0:
        return None
    return RecordRetention(store, settings, clock=clock, metrics=metrics)
