"""Gauges read at scrape time: from the database (`DatabaseCollector`, a handful of small
queries: `store.gauges`) and from the local spool folder (`SpoolCollector`).

A scrape that cannot reach the database still answers: `brisa_database_up` says 0 and the
database's gauges are left out, rather than the whole scrape failing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from brisa.logs.recovery import left_spools
from brisa.store.gauges import Gauges
from brisa.worker.registry import process_group_alive


class GaugeSource(Protocol):
    def gauges(self) -> Gauges: ...


class DatabaseCollector(Collector):
    def __init__(self, store: Callable[[], GaugeSource], clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily(
            "brisa_database_up", "Whether this scrape could read the database (1) or not (0)"
        )
        took = GaugeMetricFamily(
            "brisa_database_scrape_duration_seconds",
            "Time this scrape spent reading the database's gauges",
        )
        try:
            gauges = self._store().gauges()
        except Exception:  # noqa: BLE001 - whatever failed, the scrape says the database is down
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families(gauges, self._clock())
        took.add_metric([], time.perf_counter() - started)
        yield took


def families(gauges: Gauges, now: datetime) -> Iterator[Metric]:
    """The database's gauges as metric families (`now`: the age of each sync)."""
    tasks = GaugeMetricFamily(
        "brisa_task_instances",
        "Task instances of the queued and running runs, by team and state",
        labels=["team", "state"],
    )
    for (team, state), n in sorted(gauges.tasks.items()):
        tasks.add_metric([team, state], n)
    yield tasks
    yield queue_depth_family(gauges.queued)
    yield from lease_families(gauges)
    yield from repo_families(gauges, now)
    errors = GaugeMetricFamily(
        "brisa_import_errors",
        "DAG files that fail to import now, by team and repository",
        labels=["team", "repo"],
    )
    for (team, repo), n in sorted(gauges.import_errors.items()):
        errors.add_metric([team, repo], n)
    yield errors


def queue_depth_family(queued: dict[str, int]) -> Metric:
    """`brisa_queue_depth`: the place to add a `pool` label (with `store.gauges.queue_depth`)."""
    depth = GaugeMetricFamily(
        "brisa_queue_depth",
        "Queued task instances (handed to an executor, worker not started yet), by team",
        labels=["team"],
    )
    for team, n in sorted(queued.items()):
        depth.add_metric([team], n)
    return depth


def lease_families(gauges: Gauges) -> Iterator[Metric]:
    epoch = GaugeMetricFamily(
        "brisa_lease_epoch",
        "The epoch of each lease, by lease name and holder (a new epoch: the lease changed hands)",
        labels=["name", "holder"],
    )
    left = GaugeMetricFamily(
        "brisa_lease_expires_in_seconds",
        "Seconds until each lease expires on the database's clock (negative: expired)",
        labels=["name", "holder"],
    )
    for lease in sorted(gauges.leases, key=lambda lease: lease.name):
        epoch.add_metric([lease.name, lease.holder], lease.epoch)
        left.add_metric([lease.name, lease.holder], lease.expires_in)
    yield epoch
    yield left


def repo_families(gauges: Gauges, now: datetime) -> Iterator[Metric]:
    age = GaugeMetricFamily(
        "brisa_repo_sync_age_seconds",
        "Seconds since the last successful sync of each git repository (+Inf: never)",
        labels=["repo", "team"],
    )
    failures = GaugeMetricFamily(
        "brisa_repo_sync_consecutive_failures",
        "Syncs of each git repository that failed in a row since its last success",
        labels=["repo", "team"],
    )
    for repo in sorted(gauges.repos, key=lambda r: r.name):
        last = repo.last_success_at
        seconds = math.inf if last is None else max((now - last).total_seconds(), 0.0)
        age.add_metric([repo.name, repo.team], seconds)
        failures.add_metric([repo.name, repo.team], repo.consecutive_failures)
    yield age
    yield failures


class SpoolCollector(Collector):
    """Logs not yet shipped of workers that ended on this machine (local executor): their
    spool files wait for the spool sweep, which ships what the store lacks. A few after a
    worker is killed are normal for seconds; a count that stays up, or an age that keeps
    growing, says the object store refuses them."""

    def __init__(
        self,
        folder: Path,
        alive: Callable[[int], bool] = process_group_alive,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._folder = folder
        self._alive = alive
        self._wall = wall

    def collect(self) -> Iterator[Metric]:
        waiting = [s for s in left_spools(self._folder) if not self._alive(s.pid)]
        count = GaugeMetricFamily(
            "brisa_log_spools_unshipped",
            "Spool files of ended workers on this machine whose logs are not all in the store",
        )
        count.add_metric([], len(waiting))
        yield count
        age = GaugeMetricFamily(
            "brisa_log_spool_unshipped_age_seconds",
            "Seconds since the oldest of those spool files was last written (0: none)",
        )
        oldest = min((s.modified for s in waiting), default=None)
        age.add_metric([], 0.0 if oldest is None else max(self._wall() - oldest, 0.0))
        yield age
