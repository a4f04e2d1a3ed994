"""The fake kubelet (and the scheduler and node controller it stands in for): one thread per
pod that binds it to the one fake node, runs its first container as a local process
(`container.py`) and writes the pod's status the way a real kubelet does: Pending with
ContainerCreating, Running, then Succeeded or Failed with the container's exit code and
reason, with the events a real cluster records. An injected fault (`faults.py`) changes that
life as the real failure would. Deleting a pod stops its process group (SIGTERM, then SIGKILL
after the grace period).

Only the first container runs; `restartPolicy` is treated as `Never`.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

from brisa.testing.kube.container import ContainerLog
from brisa.testing.kube.faults import FaultTable
from brisa.testing.kube.objects import Json
from brisa.testing.kube.podworker import PodWorker
from brisa.testing.kube.satokens import ServiceAccountTokens
from brisa.testing.kube.store import Change, ClusterState


class Kubelet:
    """Pod workers, their logs, and how containers are started: `images` maps an image to
    the entrypoint of a container without `command`; `base_env` is what every container gets
    under the pod's own variables."""

    def __init__(
        self,
        state: ClusterState,
        faults: FaultTable,
        root: Path,
        *,
        base_env: dict[str, str],
        images: dict[str, list[str]],
        retry: float = 0.5,
        tokens: ServiceAccountTokens | None = None,
        memory_cgroups: bool = False,
    ) -> None:
        self.state, self.faults, self.root = state, faults, root
        self.tokens = tokens or ServiceAccountTokens()  # projected service account tokens
        self.memory_cgroups = memory_cgroups  # memory limits enforced by the kernel (memcg.py)
        self.base_env, self.images, self.retry = base_env, images, retry
        self.logs: dict[tuple[str, str], ContainerLog] = {}
        self._workers: dict[str, PodWorker] = {}
        self._ips = itertools.count(10)
        self._lock = threading.Lock()
        self._stopped = False
        state.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        if change.resource != "pods":
            return
        meta = change.obj["metadata"]
        with self._lock:
            if change.type == "ADDED" and not self._stopped:
                worker = PodWorker(self, change.obj, self.faults.pick(change.obj))
                self._workers[meta["uid"]] = worker
                worker.start()
                return
            found = self._workers.get(meta["uid"])
            if change.type == "DELETED":  # a pod's log lives as long as the pod
                for key in [key for key in self.logs if key[0] == meta["uid"]]:
                    del self.logs[key]
        if found is None:
            return
        worker = found
        if change.type == "DELETED":
            worker.stop(0, gone=True)
        elif meta.get("deletionTimestamp"):
            worker.stop(int(meta.get("deletionGracePeriodSeconds") or 0))

    def log(self, pod: Json, container: str) -> ContainerLog | None:
        with self._lock:
            return self.logs.get((pod["metadata"]["uid"], container))

    def log_of(self, uid: str, container: str) -> ContainerLog | None:
        with self._lock:
            return self.logs.get((uid, container))

    def next_ip(self) -> str:
        return f"10.244.0.{next(self._ips) % 250 + 2}"

    def forget(self, uid: str) -> None:
        with self._lock:
            self._workers.pop(uid, None)

    def stop(self) -> None:
        """Kill every container and wait for the pod threads; no process outlives this."""
        with self._lock:
            self._stopped = True
            workers = list(self._workers.values())
        for worker in workers:
            worker.stop(0, gone=True)
        for worker in workers:
            worker.join(15)
