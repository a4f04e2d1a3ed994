"""The faults of a chaos run, injected at random every few seconds until told to stop:

- `kill`: SIGKILL a scheduler, then start a new one in its place (same home: a restarted
  machine) a moment later;
- `stop`: SIGSTOP a scheduler for longer than the lease TTL, then SIGCONT it (a frozen VM,
  a long GC pause): it wakes believing it still holds what it held;
- `cut`: cut every database connection of the schedulers (the TCP proxy);
- `restart`: restart PostgreSQL (only on the suite's own cluster).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable

from brisa.testing.chaos.cluster import Cluster
from brisa.testing.chaos.proxy import CuttableProxy

log = logging.getLogger("brisa.chaos")
KINDS = ("kill", "stop", "cut", "restart")


class Faults:
    """`run(stop)` injects faults on this thread until `stop` is set; `heal()` then SIGCONTs
    and restarts whatever is stopped or dead, so that the system can finish its work."""

    def __init__(
        self,
        cluster: Cluster,
        proxy: CuttableProxy,
        *,
        rng: random.Random,
        gap: tuple[float, float],
        stop_for: float,
        restart_db: Callable[[], None] | None,
        kinds: tuple[str, ...] = KINDS,
    ) -> None:
        self.cluster = cluster
        self.proxy = proxy
        self.rng = rng
        self.gap = gap
        self.stop_for = stop_for
        self.restart_db = restart_db
        self.kinds = tuple(k for k in kinds if k != "restart" or restart_db is not None)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def run(self, stop: threading.Event) -> None:
        if not self.kinds:
            return
        while not stop.wait(self.rng.uniform(*self.gap)):
            kind = self.rng.choice(self.kinds)
            try:
                if getattr(self, f"_{kind}")():
                    self.counts[kind] += 1
            except Exception:  # a fault that could not be made is not a finding; go on
                log.exception("fault %s failed", kind)

    def _running_slot(self) -> int | None:
        with self._lock:
            slots = [
                s
                for s in range(self.cluster.schedulers)
                if self.cluster.scheduler(s).alive() and not self.cluster.scheduler(s).stopped
            ]
        return self.rng.choice(slots) if slots else None

    def _kill(self) -> bool:
        slot = self._running_slot()
        if slot is None:
            return False
        log.info("fault: SIGKILL scheduler %d", slot)
        self.cluster.scheduler(slot).kill()
        self._later(self.rng.uniform(0.5, 2.0), lambda: self._restart_scheduler(slot))
        return True

    def _restart_scheduler(self, slot: int) -> None:
        with self._lock:
            if not self.cluster.scheduler(slot).alive():
                self.cluster.start_scheduler(slot)

    def _stop(self) -> bool:
        slot = self._running_slot()
        if slot is None:
            return False
        proc = self.cluster.scheduler(slot)
        log.info("fault: SIGSTOP scheduler %d for %.1fs", slot, self.stop_for)
        with self._lock:
            proc.signal(signal.SIGSTOP)
            proc.stopped = True
        self._later(self.stop_for, lambda: self._resume(slot))
        return True

    def _resume(self, slot: int) -> None:
        with self._lock:
            proc = self.cluster.scheduler(slot)
            proc.signal(signal.SIGCONT)
            proc.stopped = False

    def _cut(self) -> bool:
        log.info("fault: cut %d proxied sockets", self.proxy.cut())
        return True

    def _restart(self) -> bool:
        assert self.restart_db is not None
        log.info("fault: restart PostgreSQL")
        self.restart_db()
        return True

    def _later(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def heal(self) -> None:
        """Run pending resumes and restarts now; every scheduler running again."""
        for timer in self._timers:
            timer.cancel()
        for slot in range(self.cluster.schedulers):
            self._resume(slot)
            self._restart_scheduler(slot)
