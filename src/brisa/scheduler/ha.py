"""Leases that let several schedulers share one database (ADR 0019).

Every scheduler holds a lease named after itself (`Identity.lease`), its liveness record, and
renews it every ttl/3 from a thread of its own; on SQLite it also holds the single-scheduler
lease, so a second scheduler is refused at start. A pass applies its decisions fenced by the
lease (`store.fencing`): once the lease is lost, they change nothing. A scheduler that has not
renewed for ttl/2 stops acting until it has (`LeaseTiming.self_fenced`). Another scheduler's
attempts are adopted only after its lease expired on the database's clock, or when it is a
process of this host that is gone.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from brisa.core.leases import (
    SCHEDULER_PREFIX,
    SINGLE_SCHEDULER,
    Identity,
    LeaseTiming,
    dead_here,
)
from brisa.errors import Conflict
from brisa.metrics.health import Check
from brisa.store import Store
from brisa.store.claims import LeaseRow
from brisa.store.fencing import Fence
from brisa.worker.registry import process_start_time

if TYPE_CHECKING:
    from brisa.scheduler.namespaces import NamespaceLeases

log = logging.getLogger("brisa.scheduler")


def this_process() -> Identity:
    pid = os.getpid()
    return Identity(socket.gethostname(), pid, process_start_time(pid) or 0)


class AnotherScheduler(Conflict):
    """A second scheduler on a database where only one may run (SQLite)."""


@dataclass(frozen=True)
class Lost:
    """A scheduler whose lease is lost, and whether it is known dead on this host."""

    lease: LeaseRow
    dead_here: bool


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        *,
        ttl: float,
        awake: Callable[[], float],
        identity: Identity | None = None,
        start_time_of: Callable[[int], int | None] = process_start_time,
        single_because: str = "",
    ) -> None:
        self.store = store
        self.identity = identity or this_process()
        self.timing = LeaseTiming(ttl)
        self.awake = awake
        self.start_time_of = start_time_of
        # On SQLite (one writer, one machine) exactly one scheduler runs; also where the
        # caller says why (`single_because`).
        if store.backend == "sqlite":
            single_because = "on SQLite exactly one scheduler may run"
        self.single_because = single_because
        self.exclusive = bool(single_because)
        self._lock = threading.Lock()
        self._epoch: int | None = None
        self._renewed: float | None = None
        self._fenced_logged = False
        # The namespace leases of a Kubernetes executor (ADR 0028), renewed with this one's.
        self.namespaces: NamespaceLeases | None = None

    @property
    def holder(self) -> str:
        return str(self.identity)

    def start(self) -> None:
        """Take this scheduler's leases, or raise `AnotherScheduler` when one may run and
        another does."""
        if self.exclusive and self._single() is None:
            other = next(iter(self.store.leases(SINGLE_SCHEDULER)), None)
            raise AnotherScheduler(_refusal(other, self.single_because))
        if not self.renew():
            raise Conflict(f"could not take this scheduler's lease {self.identity.lease}")

    def _single(self) -> int | None:
        current = {row.name: row for row in self.store.leases(SINGLE_SCHEDULER)}.get(
            SINGLE_SCHEDULER
        )
        dead = current is not None and dead_here(
            current.holder, self.identity.host, self.start_time_of
        )
        return self.store.acquire_lease(
            SINGLE_SCHEDULER,
            self.holder,
            self.timing.ttl,
            take_from=current.holder if dead and current else None,
        )

    def renew(self) -> bool:
        """Renew (or take again) this scheduler's leases; False when it could not."""
        began = self.awake()
        if self.exclusive and self._single() is None:
            return self._failed("the single-scheduler lease is held by another scheduler")
        epoch = self.store.acquire_lease(self.identity.lease, self.holder, self.timing.ttl)
        if epoch is None:
            return self._failed("its lease is held by another holder")
        with self._lock:
            if self._epoch is not None and epoch != self._epoch:
                log.warning("lease %s re-acquired at epoch %d", self.identity.lease, epoch)
            self._epoch, self._renewed = epoch, began
            self._fenced_logged = False
        if self.namespaces is not None:
            self.namespaces.renew()
        return True

    def _failed(self, why: str) -> bool:
        log.warning("scheduler lease not renewed: %s", why)
        return False

    def fence(self) -> Fence | None:
        """The fence to apply this pass's writes under; None while self-fenced (not renewed
        for ttl/2), when the pass must not act."""
        with self._lock:
            epoch, renewed = self._epoch, self._renewed
        if epoch is None or self.timing.self_fenced(renewed, self.awake()):
            if not self._fenced_logged:
                log.warning("fenced, re-acquiring: lease %s not renewed in time", self.holder)
                self._fenced_logged = True
            return None
        return Fence(self.identity.lease, self.holder, epoch)

    def readiness(self) -> Check:
        """The scheduler's readiness check (`/health/ready`): it holds its lease."""
        with self._lock:
            epoch, renewed = self._epoch, self._renewed
        name = "scheduler lease"
        if epoch is None or renewed is None:
            return Check(name, False, f"{self.identity.lease} not taken yet")
        age = self.awake() - renewed
        if self.timing.self_fenced(renewed, self.awake()):
            return Check(
                name, False, f"not renewed for {age:.0f}s (ttl {self.timing.ttl:g}s): fenced"
            )
        return Check(name, True, f"{self.identity.lease} at epoch {epoch}, renewed {age:.1f}s ago")

    def lost(self) -> list[Lost]:
        """Other schedulers whose lease expired on the database's clock, or that are
        processes of this host that are gone."""
        found = []
        for row in self.store.leases(SCHEDULER_PREFIX):
            if row.holder == self.holder:
                continue
            here = dead_here(row.holder, self.identity.host, self.start_time_of)
            if here or row.expires_in <= 0:
                found.append(Lost(row, here))
        return found

    def run_forever(self, stop: threading.Event) -> None:
        """Renew every ttl/3 until `stop`; after a failure (the database unreachable, say)
        retry sooner, with jitter, never in a busy loop."""
        wait = self.timing.renew_every
        while not stop.wait(wait):
            try:
                ok = self.renew()
            except SQLAlchemyError as exc:  # the database may be down or restarting
                log.warning("scheduler lease not renewed: %s", exc)
                ok = False
            base = self.timing.renew_every
            wait = base if ok else min(base, 1.0) * random.uniform(0.5, 1.0)

    def close(self) -> None:
        """Give the leases up, so that another scheduler takes over at once."""
        if self.namespaces is not None:
            try:
                self.namespaces.release()
            except SQLAlchemyError as exc:
                log.warning("namespace leases not released: %s", exc)
        for name in (self.identity.lease, SINGLE_SCHEDULER if self.exclusive else None):
            if name is not None:
                try:
                    self.store.release_lease(name, self.holder)
                except SQLAlchemyError as exc:
                    log.warning("lease %s not released: %s", name, exc)


def _refusal(other: LeaseRow | None, because: str) -> str:
    who = f" ({other.holder}, for {max(other.expires_in, 0):.0f} more seconds)" if other else ""
    remedy = "use PostgreSQL to run several" if "SQLite" in because else "run one"
    return (
        f"another scheduler holds the lease on this database{who}: {because}. Stop the other "
        f"one (or wait for its lease to expire), or {remedy}."
    )
