"""What the holder of a namespace's lease does there, and only it (ADR 0028).

Every scheduler's executor watches the namespaces it launches into, launches the pods of the
attempts its scheduler owns and reads their endings: all of that is idempotent (deterministic
pod names, guarded outcome updates). What is not idempotent is done by one executor per
namespace, the one whose scheduler holds the lease `k8s:<namespace>` (`Duties.holds`):

- following a container task's output and shipping it as the attempt's log (two followers
  would cut the same chunk numbers twice); a new holder follows on from what the store holds;
- completing a dead worker pod's log from `pods/log`;
- deleting finished pods per the deletion policy, once their outcome and log are stored;
- collecting orphans: Brisa pods whose task instance does not exist in the database at all,
  once they are older than the grace period (`orphans`).

`PodLogs` keeps the followers and completions of one executor; `orphans` and `delete_now`
are pure decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from brisa.core.observations import Ending, Waiting
from brisa.executor.kubernetes import api as kube
from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.classify import (
    Running,
    attempt_ids,
    finished_at,
    parse_time,
    task_container,
)
from brisa.executor.kubernetes.podlogs import ContainerLog, WorkerLogJob, complete_worker_log
from brisa.logs import layout
from brisa.logs.config import ShippingConfig
from brisa.objectstore import ObjectInfo, ObjectStore, StoreUnavailable

Json = dict[str, Any]
ORPHAN_GRACE = 600.0  # seconds a pod without any task instance is left alone (default)
COLLECT_EVERY = 15.0  # seconds between two looks for orphans in one namespace


class Duties(Protocol):
    """Which namespaces this executor looks after, and what the database knows."""

    def holds(self, namespace: str) -> bool:
        """Whether this scheduler holds the namespace's lease now (renewed in time)."""
        ...

    def known(self, ti_ids: Collection[int]) -> set[int]:
        """Those of `ti_ids` that are task instances in the database."""
        ...

    def may_launch(self, fence: object) -> bool:
        """Whether the scheduler's own lease still holds as `fence` says (holder and epoch,
        renewed in time): a create is sent only under the fence of the pass that decided it,
        so a scheduler that lost its lease since (frozen, say) creates nothing (ADR 0040)."""
        ...


class SoleHolder:
    """An executor on its own (no scheduler leases: tests, tools): it holds every namespace
    and takes every pod for known (so it collects no orphans)."""

    def holds(self, namespace: str) -> bool:
        return True

    def may_launch(self, fence: object) -> bool:
        return True

    def known(self, ti_ids: Collection[int]) -> set[int]:
        return set(ti_ids)


def orphans(
    pods: list[Json], known: Callable[[Collection[int]], set[int]], now: datetime, grace: float
) -> list[str]:
    """The names of Brisa pods created more than `grace` seconds before `now` whose task
    instance is not in the database (`known` says which of some ids are). A pod whose
    creation time cannot be read is never an orphan; the database is asked only about pods
    old enough."""
    old: dict[str, int] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        ref = naming.attempt_from_labels(meta.get("labels") or {})
        created = parse_time(meta.get("creationTimestamp"))
        if ref is not None and created is not None and (now - created).total_seconds() >= grace:
            old[str(meta["name"])] = ref.ti_id
    if not old:
        return []
    present = known(set(old.values()))
    return sorted(name for name, ti_id in old.items() if ti_id not in present)


def delete_now(
    policy: str,
    status: Running | Waiting | Ending,
    pod: Json,
    keep: float,
    now: datetime,
) -> bool:
    """The deletion policy, for a pod whose attempt's outcome is stored."""
    if policy == "always" or not isinstance(status, Ending):
        return True
    if policy == "never":
        return False
    if status.success:
        return True
    finished = finished_at(pod)
    return keep <= 0 or (finished is not None and (now - finished).total_seconds() >= keep)


class WhileHeld:
    """The log store for a follower: a write is refused (as an outage: it stays in the spool)
    once the namespace's lease is not held, checked right before each write."""

    def __init__(self, store: ObjectStore, held: Callable[[], bool]) -> None:
        self.store, self.held = store, held
        self.location: str = store.location

    def put(self, key: str, data: bytes) -> None:
        if not self.held():
            raise StoreUnavailable("this scheduler no longer holds the namespace's lease")
        self.store.put(key, data)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return self.store.get(key, start, end)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self.store.list(prefix)

    def delete(self, keys: Iterable[str]) -> None:
        if not self.held():
            raise StoreUnavailable("this scheduler no longer holds the namespace's lease")
        self.store.delete(keys)


class PodLogs:
    """The logs the executor ships from `pods/log`: container tasks' output while their pods
    run (`ContainerLog`), dead workers' last lines (`WorkerLogJob`). Only for namespaces whose
    lease its scheduler holds; `abandon` when the lease is lost."""

    def __init__(self, api: kube.KubeApi, config: ShippingConfig, spool_folder: Path) -> None:
        self.api, self.config = api, config
        self.folder = spool_folder / "kubernetes"
        self._logs: dict[str, tuple[str, ContainerLog]] = {}  # pod -> (namespace, follower)
        self._completions: dict[str, WorkerLogJob] = {}

    def follow(
        self,
        namespace: str,
        pod: Json,
        try_number: int,
        finished: Callable[[], bool],
        held: Callable[[], bool],
    ) -> None:
        """Follow a container task's output, unless followed already (or logs are off),
        writing to the log store only while `held()` (the namespace's lease is held, renewed in
        time): a holder frozen past its lease writes nothing once it resumes, even before its
        next pass abandons the follower."""
        name = str(pod["metadata"]["name"])
        if name in self._logs or not self.config.location:
            return
        attempt = attempt_ids(pod, try_number)
        if attempt is None:
            return
        store = self.config.open_store
        stream = ContainerLog(
            self.api, namespace, name, task_container(pod), attempt, self.config, self.folder,
            finished=finished, open_store=lambda: WhileHeld(store(), held),
        )  # fmt: skip
        self._logs[name] = (namespace, stream.start())

    def container_complete(self, name: str) -> bool:
        """Whether a container task's log is all in the store (so its pod may go)."""
        entry = self._logs.get(name)
        if entry is None:
            return not self.config.location
        if entry[1].done.is_set() and not entry[1].abandoned:
            self._logs.pop(name, None)
            return True
        return False

    def worker_complete(self, namespace: str, pod: Json, try_number: int) -> bool:
        """Whether an ended worker pod's log is whole (or the pod gone): a worker that died
        before its last chunk has it completed from the pod's log first."""
        if not self.config.location:
            return True
        name = str(pod["metadata"]["name"])
        job = self._completions.get(name)
        if job is None:
            job = WorkerLogJob(lambda: self._complete(namespace, pod, try_number), name=name)
            self._completions[name] = job
        if not job.poll():
            return False
        self._completions.pop(name, None)
        return True

    def _complete(self, namespace: str, pod: Json, try_number: int) -> None:
        attempt = attempt_ids(pod, try_number)
        if attempt is None:
            return
        store = self.config.open_store()
        prefix = layout.attempt_prefix(*attempt)
        if not store.list(prefix + layout.FULL):
            name = str(pod["metadata"]["name"])
            data = b"".join(self.api.pod_log(namespace, name, task_container(pod)))
            complete_worker_log(store, prefix, data, self.config.chunk_bytes, pod=name)

    def vanished(self, name: str) -> None:
        """A pod left the view: its follower is dropped once it has finished."""
        entry = self._logs.get(name)
        if entry is not None and entry[1].done.is_set():
            del self._logs[name]

    def abandon(self, namespace: str) -> None:
        """The namespace's lease is lost: stop following and completing there at once; the
        new holder ships on from what the store holds."""
        for name, (where, stream) in list(self._logs.items()):
            if where == namespace:
                stream.abandon()
                del self._logs[name]
        self._completions.clear()  # a job in flight writes only a whole, final log
