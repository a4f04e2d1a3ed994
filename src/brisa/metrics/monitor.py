"""One process's metrics and health checks, put together by the composition root: its
registry and instruments, its loops' heartbeats, its readiness checks, and (for the processes
without an API) the server that answers for them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from brisa.metrics.collector import DatabaseCollector, GaugeSource, SpoolCollector
from brisa.metrics.health import (
    Check,
    Heartbeats,
    SchemaSource,
    answer,
    configured,
    database_checks,
)
from brisa.metrics.instruments import Metrics
from brisa.metrics.server import MetricsServer, json_endpoint

Report = tuple[int, dict[str, Any]]


class Monitor:
    def __init__(self, store: Callable[[], SchemaSource], *, stall_timeout: float) -> None:
        self.heartbeats = Heartbeats()
        self.metrics = Metrics(beat=self.heartbeats.beat)
        self.stall_timeout = stall_timeout
        self._store = store
        self._readiness: list[Callable[[], Check]] = []
        self._watched: set[str] = set()
        self.server: MetricsServer | None = None

    def watch_api(
        self,
        reads: Callable[[], GaugeSource],
        clock: Callable[[], datetime],
        object_store: Callable[[], str],
    ) -> None:
        """The API exports the database's gauges (read through `reads`, the store whose
        statements are cut at `[ui] statement_timeout`) and is ready once its object store is
        configured too (`object_store()` names it, or raises saying why not)."""
        if "api" not in self._watched:
            self._watched.add("api")
            self.metrics.registry.register(DatabaseCollector(reads, clock))
            self.add_readiness(configured("object store", object_store))

    def watch_spools(self, folder: Path) -> None:
        """Export the unshipped logs of workers that ended on this machine."""
        if "spools" not in self._watched:
            self._watched.add("spools")
            self.metrics.registry.register(SpoolCollector(folder))

    def add_readiness(self, check: Callable[[], Check]) -> None:
        """A check /health/ready makes besides the database's (e.g. the scheduler's lease)."""
        self._readiness.append(check)

    def live(self) -> Report:
        loops = self.heartbeats.checks(self.stall_timeout)
        return answer([Check("process", True, "answering"), *loops])

    def ready(self) -> Report:
        return answer([*database_checks(self._store), *(check() for check in self._readiness)])

    def exposition(self) -> tuple[bytes, str]:
        """/metrics: the body and its content type (Prometheus text format)."""
        return generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST

    def _metrics_endpoint(self) -> tuple[int, str, bytes]:
        body, content_type = self.exposition()
        return 200, content_type, body

    def serve(self, host: str, port: int) -> MetricsServer:
        """Answer /metrics, /health/live and /health/ready on host:port, in a daemon thread."""
        self.server = MetricsServer(
            host,
            port,
            {
                "/metrics": self._metrics_endpoint,
                "/health/live": json_endpoint(self.live),
                "/health/ready": json_endpoint(self.ready),
            },
        ).start()
        return self.server

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


def unregistered_monitor() -> Monitor:
    """A monitor for an application built without a system (benchmarks of the UI alone): its
    readiness says there is no database to check."""

    def no_store() -> SchemaSource:
        raise RuntimeError("this application was built without a database to check")

    return Monitor(no_store, stall_timeout=300.0)
