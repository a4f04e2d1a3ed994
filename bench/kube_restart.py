"""W9 (K8) every scheduler restarted while 200 pods run: adoption, counted and timed.

Three `brisa scheduler` processes on PostgreSQL (one `brisa api`, one `brisa dag-processor`,
`brisa.testing.kube.fleet`) launch a DAG of PODS container tasks (each waits for a file) into
the fake API server. Once every pod runs, all three schedulers are SIGKILLed and started
again (each in its own home, as after a node restart). Measured from the moment the new
processes are started (T0):

- `kube.restart_adopted_s`: until every running attempt is owned by a live new scheduler
  (its lost owner's attempts adopted: ADR 0019) and a new scheduler holds the namespace's
  lease (it has relisted the namespace: ADR 0028): the full reconcile K8 budgets at 30 s;
- `kube.restart_pod_creates` / `kube.restart_pod_deletes_running`: pod creates, and deletes of
  a running pod, the fake API server received after T0 (K8 wants 0 of both);
- `kube.restart_run_s`: T0 until the run's end: the containers are told to end (a file they
  wait for) as soon as the adoption is measured, so this is adoption + every outcome stored.

The scheduler processes' start-up (interpreter, imports, the first list) is inside the figure.
All processes share one host, so a killed scheduler's lease is taken at once (its process is
gone); on separate hosts add the lease's ttl (`[scheduler] lease_ttl`, 15 s by default). A real
API server answers a list of 200 pods in tens of milliseconds; the fake one is in this process.

Run alone: `python -m bench.kube_restart [PODS]` (prints the figures as JSON).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench import scheduler_scale
from bench.figures import Results
from bench.plan import Plan
from brisa.testing.kube import FakeCluster
from brisa.testing.kube.fleet import KubeFleet, PodRequests

NAMESPACE = "brisa"
PODS = 200


def dag(pods: int, flag: Path) -> str:
    """PODS containers that run until `flag` exists (the fake kubelet runs them here)."""
    script = f"until [ -e {flag} ]; do sleep 1; done"
    return f"""
from brisa import DAG, container

with DAG("restart", schedule=None, max_active_tasks={pods}) as dag:
    for i in range({pods}):
        container(f"c{{i}}", "busybox:1.36", command=["sh", "-c", {script!r}])
"""


def _adopted(fleet: KubeFleet, pods: int, old: set[str]) -> bool:
    owners = fleet.owners()
    live = fleet.live_holders() - old
    slot = fleet.holder_slot()
    return len(owners) == pods and set(owners.values()) <= live and slot is not None


def measure(folder: Path, pods: int = PODS) -> dict[str, float]:
    with (
        scheduler_scale.database("postgresql", folder) as url,
        FakeCluster(token="bench", namespaces=(NAMESPACE,)) as cluster,
    ):
        requests = PodRequests(cluster)
        env = {
            "BRISA__SCHEDULER__LEASE_TTL": "15s",
            "BRISA__SCHEDULER__POLL_INTERVAL": "1s",
            "BRISA__POOLS__DEFAULT_SLOTS": str(2 * pods),  # all of them run at once
        }
        flag = folder / "release"
        fleet = KubeFleet(
            folder / "fleet", url, cluster, namespace=NAMESPACE,
            dags={"restart": dag(pods, flag)}, env=env,
        )  # fmt: skip
        try:
            fleet.start()
            fleet.wait_dag("restart", 120)
            run_id = fleet.trigger("restart")
            fleet.wait_until(lambda: fleet.running_pods() == pods, 900, f"{pods} pods running")
            old = fleet.live_holders()
            for slot in fleet.slots():
                fleet.kill(slot)
            started = time.monotonic()
            for slot in fleet.slots():
                fleet.restart(slot)
            fleet.wait_until(lambda: _adopted(fleet, pods, old), 120, "every attempt adopted")
            adopted = time.monotonic() - started
            flag.touch()  # every container ends now
            run = fleet.wait_run("restart", run_id, 600)
            ended = time.monotonic() - started
        finally:
            fleet.close()
        if run["state"] != "success":
            raise RuntimeError(f"the run ended {run['state']}")
        retried = [t["task_id"] for t in run["tasks"] if t["try_number"] != 1]
        if retried:
            raise RuntimeError(f"tasks ran more than once: {retried}")
        deletes = requests.since(started, "delete")
        return {
            "kube.restart_pods": float(pods),
            "kube.restart_adopted_s": adopted,
            "kube.restart_pod_creates": float(len(requests.since(started, "create"))),
            "kube.restart_pod_deletes_running": float(sum(r.phase == "Running" for r in deletes)),
            "kube.restart_run_s": ended,
        }


def run(plan: Plan, work: Path, results: Results) -> None:
    """W9, K8: one restart of every scheduler with PODS running pods (PostgreSQL needed)."""
    problem = scheduler_scale.postgres_problem()
    if problem:
        raise RuntimeError(f"needs PostgreSQL: {problem}")
    results.add(measure(work / "kube-restart", plan.kube_restart_pods))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else PODS
    with tempfile.TemporaryDirectory(prefix="brisa-kube-restart-") as tmp:
        print(json.dumps(measure(Path(tmp), count), indent=2))
