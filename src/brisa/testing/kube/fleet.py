"""Several `brisa scheduler` processes on PostgreSQL under the Kubernetes executor, against a
fake cluster (ADR 0028): the e2e tests and the benchmark of K8 drive the same harness.

`KubeFleet` is a chaos `Cluster` (one `brisa api`, one `brisa dag-processor`, N schedulers,
each with a home of its own, all marked for `kill_all`) whose schedulers launch pods in a
`FakeCluster`; `PodRequests` records every pod create and delete the fake API server took,
with the phase the pod was in when it was deleted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from brisa.core.leases import Identity, namespace_lease
from brisa.testing.chaos.cluster import Cluster
from brisa.testing.kube.cluster import FakeCluster

Json = dict[str, Any]
TEAM = "default"


@dataclass(frozen=True)
class Request:
    verb: str  # "create" | "delete"
    pod: str
    phase: str  # the pod's phase when the request came (created pods: "")
    at: float  # time.monotonic()


class PodRequests:
    """Every pod create and delete the fake API server received, in order."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.seen: list[Request] = []
        self._lock = threading.Lock()
        state = cluster.state
        create, delete = state.create, state.delete_pod

        def created(resource: str, namespace: str, obj: Any) -> Any:
            made = create(resource, namespace, obj)
            if resource == "pods":
                self._add(Request("create", obj["metadata"]["name"], "", time.monotonic()))
            return made

        def deleted(namespace: str, name: str, grace: int | None) -> Json:
            pod = state.find("pods", namespace, name) or {}
            phase = str((pod.get("status") or {}).get("phase") or "")
            self._add(Request("delete", name, phase, time.monotonic()))
            return delete(namespace, name, grace)

        state.create = created  # type: ignore[method-assign]
        state.delete_pod = deleted  # type: ignore[method-assign]

    def _add(self, request: Request) -> None:
        with self._lock:
            self.seen.append(request)

    def since(self, start: float, verb: str) -> list[Request]:
        with self._lock:
            return [r for r in self.seen if r.at >= start and r.verb == verb]


def fleet_env(cluster: FakeCluster, folder: Path, namespace: str, **extra: str) -> dict[str, str]:
    """The schedulers' settings: the Kubernetes executor against `cluster`."""
    token = folder / "kube-token"
    token.write_text(cluster.token or "")
    return {
        "PYTHONUNBUFFERED": "1",  # a SIGKILLed scheduler leaves its whole log
        "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
        "BRISA__SCHEDULER__LEASE_TTL": "3s",
        "BRISA__LOGS__CHUNK_INTERVAL": "300ms",
        "BRISA__EXECUTOR__KIND": "kubernetes",
        "BRISA__EXECUTOR__PARALLELISM": "256",
        "BRISA__KUBERNETES__SERVER": cluster.url,
        "BRISA__KUBERNETES__TOKEN_FILE": str(token),
        "BRISA__KUBERNETES__NAMESPACE": namespace,
        "BRISA__KUBERNETES__WORKER_IMAGE": "ghcr.io/acme/brisa:test",
        **extra,
    }


class KubeFleet:
    def __init__(
        self,
        folder: Path,
        database_url: str,
        cluster: FakeCluster,
        *,
        namespace: str,
        schedulers: int = 3,
        dags: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
        self.cluster, self.namespace, self.database_url = cluster, namespace, database_url
        folder.mkdir(parents=True, exist_ok=True)
        self.fleet = Cluster(
            folder,
            database_url,
            database_url,
            schedulers=schedulers,
            scheduler_env=fleet_env(cluster, folder, namespace, **(env or {})),
        )
        for name, text in (dags or {}).items():
            (self.fleet.dags / f"{name}.py").write_text(text)
        self.engine = sa.create_engine(database_url, poolclass=sa.NullPool)

    # --- processes ------------------------------------------------------------------------
    def start(self) -> None:
        self.fleet.start()
        self.fleet.wait_ready(90)

    def close(self) -> None:
        self.fleet.kill_all()
        self.engine.dispose()

    def slots(self) -> range:
        return range(self.fleet.schedulers)

    def kill(self, slot: int) -> None:
        self.fleet.scheduler(slot).kill()

    def restart(self, slot: int) -> None:
        self.fleet.start_scheduler(slot)

    def holder_slot(self) -> int | None:
        """The slot of the scheduler holding the namespace's lease, if a live one does."""
        query = sa.text("SELECT holder, expires_at FROM leases WHERE name = :name")
        with self.engine.connect() as conn:
            row = conn.execute(query, {"name": namespace_lease(self.namespace)}).first()
        identity = Identity.parse(str(row[0])) if row else None
        for slot in self.slots():
            proc = self.fleet.scheduler(slot)
            if identity is not None and proc.alive() and proc.pid == identity.pid:
                return slot
        return None

    def logs(self) -> str:
        return "\n".join(self.fleet.tail(p) for p in self.fleet.processes.values())

    # --- REST -----------------------------------------------------------------------------
    def wait_dag(self, dag_id: str, timeout: float = 60) -> None:
        self.wait_until(lambda: self._listed(dag_id), timeout, f"DAG {dag_id} listed")

    def _listed(self, dag_id: str) -> bool:
        try:
            return bool(self.fleet.request("GET", f"/api/v1/teams/{TEAM}/dags/{dag_id}"))
        except OSError:
            return False

    def trigger(self, dag_id: str) -> str:
        answer = self.fleet.request("POST", f"/api/v1/teams/{TEAM}/dags/{dag_id}/runs", {})
        return str(answer["run_id"])

    def run(self, dag_id: str, run_id: str) -> Json:
        return dict(self.fleet.request("GET", f"/api/v1/teams/{TEAM}/dags/{dag_id}/runs/{run_id}"))

    def log(self, dag_id: str, run_id: str, task_id: str) -> str:
        path = f"/api/v1/teams/{TEAM}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs"
        return str(self.fleet.request("GET", path)["content"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> Json:
        done: list[Json] = []

        def finished() -> bool:
            run = self.run(dag_id, run_id)
            done[:] = [run]
            return run["state"] in ("success", "failed")

        self.wait_until(finished, timeout, f"run {run_id} to finish")
        return done[0]

    def running_pods(self) -> int:
        pods = self.cluster.pods(self.namespace)
        return sum((p.get("status") or {}).get("phase") == "Running" for p in pods)

    def wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise TimeoutError(f"waited {timeout:g}s for {what}\n{self.logs()}")

    # --- the database ---------------------------------------------------------------------
    def moves(self) -> list[tuple[int, int, str, str, str]]:
        """Every task move: (ti, try, from, to, actor), in order."""
        query = sa.text(
            "SELECT ti_id, try_number, from_state, to_state, actor FROM task_transitions "
            "ORDER BY id"
        )
        with self.engine.connect() as conn:
            return [
                (int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in conn.execute(query)
            ]

    def owners(self) -> dict[int, str]:
        """The owner of every open task instance."""
        query = sa.text("SELECT id, owner FROM task_instances WHERE state IN ('queued', 'running')")
        with self.engine.connect() as conn:
            return {int(r[0]): str(r[1]) for r in conn.execute(query)}

    def live_holders(self) -> set[str]:
        """The holders of unexpired scheduler leases."""
        query = sa.text(
            "SELECT holder FROM leases WHERE name LIKE 'scheduler:%' AND holder <> '' "
            "AND expires_at > extract(epoch from clock_timestamp())"
        )
        with self.engine.connect() as conn:
            return {str(r[0]) for r in conn.execute(query)}


@contextmanager
def kube_fleet(*args: Any, **kwargs: Any) -> Iterator[KubeFleet]:
    fleet = KubeFleet(*args, **kwargs)
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.close()
