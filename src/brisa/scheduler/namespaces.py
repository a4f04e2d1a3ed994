"""Leases on Kubernetes namespaces: which scheduler looks after a namespace's pods (ADR 0028).

Under the Kubernetes executor every scheduler watches the namespaces it launches into and
launches the pods of its own attempts; the scheduler holding `k8s:<namespace>` also follows
container tasks' logs there, completes dead workers' logs, deletes finished pods and collects
orphans (`executor.kubernetes.holder`). The lease is the same row as a scheduler's own (ADR
0019, `store.claims`): taken on the database's clock, renewed every ttl/3 with the
scheduler's lease, taken over by anyone once it expired (at once when its holder is a
process of this host that is gone), its epoch grown at every change of hands. A holder that
has not renewed for ttl/2 by its own awake clock stops its duties until it has
(self-fencing): a frozen holder resumes as a follower, never next to the new holder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from brisa.core.leases import NAMESPACE_PREFIX, Identity, LeaseTiming, dead_here, namespace_lease
from brisa.store import Store
from brisa.worker.registry import process_start_time

log = logging.getLogger("brisa.scheduler")


class NamespaceLeases:
    """The `Duties` of a scheduler's Kubernetes executor: the namespace leases it holds."""

    def __init__(
        self,
        store: Store,
        identity: Identity,
        *,
        ttl: float,
        awake: Callable[[], float],
        namespaces: Callable[[], list[str]],
        start_time_of: Callable[[int], int | None] = process_start_time,
        fence: Callable[[], object | None] = lambda: None,
    ) -> None:
        self.store, self.identity = store, identity
        self.holder = str(identity)
        self.timing = LeaseTiming(ttl)
        self.awake = awake
        self.namespaces = namespaces
        self.start_time_of = start_time_of
        self.fence = fence  # the scheduler's own lease now (`LeaseKeeper.fence`)
        self._lock = threading.Lock()
        self._held: dict[str, tuple[int, float]] = {}  # namespace -> (epoch, renewed at)

    def renew(self) -> None:
        """Renew the namespace leases held, take those free or lost (called with the
        scheduler's own renewal, every ttl/3)."""
        holders = {row.name: row.holder for row in self.store.leases(NAMESPACE_PREFIX)}
        for namespace in self.namespaces():
            name = namespace_lease(namespace)
            began = self.awake()
            current = holders.get(name)
            lost = (
                current is not None
                and current != self.holder
                and dead_here(current, self.identity.host, self.start_time_of)
            )
            epoch = self.store.acquire_lease(
                name, self.holder, self.timing.ttl, take_from=current if lost else None
            )
            with self._lock:
                before = self._held.get(namespace)
                if epoch is None:
                    self._held.pop(namespace, None)
                else:
                    self._held[namespace] = (epoch, began)
            if epoch is not None and (before is None or before[0] != epoch):
                log.warning("namespace %s: lease %s taken at epoch %d", namespace, name, epoch)

    def holds(self, namespace: str) -> bool:
        with self._lock:
            held = self._held.get(namespace)
        return held is not None and not self.timing.self_fenced(held[1], self.awake())

    def may_launch(self, fence: object) -> bool:
        return self.fence() == fence

    def known(self, ti_ids: Collection[int]) -> set[int]:
        return set(self.store.tasks_by_id(set(ti_ids)))

    def release(self) -> None:
        """Give the namespace leases up (a graceful stop): another scheduler takes them at
        once, and follows the logs on from what the store holds."""
        with self._lock:
            held, self._held = list(self._held), {}
        for namespace in held:
            self.store.release_lease(namespace_lease(namespace), self.holder)
