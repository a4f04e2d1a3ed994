"""Pure rules of scheduler leases (ADR 0019): who a holder is, when it is known dead, and when
a scheduler must stop acting because it has not renewed its lease in time (self-fencing).

The database decides who holds a lease, on its own clock (`store.claims`); these rules only
decide what a scheduler does with what it knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SCHEDULER_PREFIX = "scheduler:"
# On SQLite exactly one scheduler runs: it holds this lease too, and a second one is refused.
SINGLE_SCHEDULER = "scheduler"
# Under the Kubernetes executor, the scheduler holding `k8s:<namespace>` looks after that
# namespace's pods: their logs, deletions and orphans (ADR 0028).
NAMESPACE_PREFIX = "k8s:"


def namespace_lease(namespace: str) -> str:
    return NAMESPACE_PREFIX + namespace


@dataclass(frozen=True)
class Identity:
    """A scheduler process: its host, its pid and the pid's start time (clock ticks since
    boot), so that a reused pid is not mistaken for the same process."""

    host: str
    pid: int
    started: int

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}/{self.started}"

    @property
    def lease(self) -> str:
        """The name of this scheduler's own lease: its liveness record."""
        return f"{SCHEDULER_PREFIX}{self}"

    @classmethod
    def parse(cls, text: str) -> Identity | None:
        host, _, rest = text.rpartition("/")
        host, _, pid = host.rpartition("/")
        if not host or not pid.isdigit() or not rest.isdigit():
            return None
        return cls(host, int(pid), int(rest))


def dead_here(holder: str, host: str, start_time_of: Callable[[int], int | None]) -> bool:
    """Whether `holder` is a scheduler of this host whose process is gone: its lease may be
    taken at once rather than after it expires (a restart after a crash takes over without
    waiting). Holders of other hosts are only ever judged by their lease's expiry."""
    identity = Identity.parse(holder)
    if identity is None or identity.host != host:
        return False
    return start_time_of(identity.pid) != identity.started


@dataclass(frozen=True)
class LeaseTiming:
    """When to renew a lease of `ttl` seconds and when to stop acting without one.

    Renew every ttl/3; a holder that has not renewed for ttl/2 (by its own clock, which counts
    a pause) stops claiming and launching until it renews: it cannot know whether its lease
    expired meanwhile, and the database refuses its writes once it has (`store.fencing`)."""

    ttl: float

    @property
    def renew_every(self) -> float:
        return self.ttl / 3

    def self_fenced(self, last_renewed: float | None, now: float) -> bool:
        return last_renewed is None or now - last_renewed > self.ttl / 2
