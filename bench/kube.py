"""W9 the Kubernetes executor against the fake API server (`brisa.testing.kube`).

A `brisa standalone` with `[executor] kind = "kubernetes"` talks real HTTP to a fake API
server in the bench's own process, whose fake kubelet runs each pod's command as a local
process. The DAG is a fan-out of 100 container tasks running `true` (the pods of a container
task need no worker, so the figures are the executor's, not Python's start-up). Measured:

- task ready → pod create request, one task at a time: a chain of 6 container tasks; from the
  moment a task became ready (its upstream's outcome stored: `end_date`) to the moment the
  API server received its pod's create (recorded by the fake server's store, same clock);
- the same in a burst: in the fan-out, each task's `queued_at` (the scheduler found it ready
  and queued it, in the same pass) to its create: creates queue behind each other;
- pods created per second: the 100 creates over the time from the first to the last;
- trigger → run success: the run's `end_date - created_at` from the API;
- K11: trigger → task running, p50/p95 over the fan-out's tasks: the run's `created_at` to the
  moment the fake kubelet reported the task's container started (the pod status whose
  `startedAt` Brisa's `pod_start_seconds` reads; noted by the wrapped store, since `startedAt`
  has whole seconds only, as in Kubernetes); and pod start, the pod's create at the API server
  to the same moment, p50/p95. A task's `start_date` is not used: for a container task it is
  the scheduler pass that saw the pod running, and a `true` pod has often ended by then;
- executor CPU per attempt: the CPU of the standalone's process (scheduler, executor and
  API: threads of one process; `/proc/PID/stat`) from the trigger to the run's end, per task;
- import time of `brisa.executor.kubernetes.executor`, alone and with the lightkube adapter
  (`lightkube_client`, what `connect()` imports), each in a new interpreter after
  `import brisa` (`perf_counter` around the import).
- K3: `plan.kube_chaos_runs` seeded randomized runs of the executor's reconciler against the
  fake API server (`brisa.testing.kube.chaos`: creates, changes and deletes with 410s, dropped
  watches, duplicated events, compactions), `CHAOS_LANES` at once on one server (its faults
  are server-wide, so each run also meets the others'): how many end with a view that is not
  the server's, and how long the view took to settle; and the recovery after a 410: a compacted
  history, a dropped watch whose reconnect gets 410 Gone, and a pod created at that moment,
  until the view has it (one run per 50 randomized ones, one at a time).
- ADR 0029: what checking a worker pod's identity costs Brisa's API per attempt
  (`PodIdentity`: a TokenReview and a read of the pod, over the lightkube adapter), median of
  `IDENTITY_CHECKS` checks of a pod's projected token.
The fake cluster's own CPU (API server, kubelet, the `true` processes) is not counted.
A real cluster differs: its API server answers in milliseconds over TLS, and a pod takes
seconds to be scheduled and started.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.figures import Results
from bench.plan import Plan
from bench.standalone import Standalone
from brisa.executor.kubernetes.api import ApiAccess, connect
from brisa.testing.kube import FakeCluster
from brisa.testing.kube.chaos import ChaosRun, chaos_run, recovery_after_gone
from brisa.testing.kube.faults import Unschedulable
from brisa.testing.kube.store import Change

NAMESPACE = "brisa"
CHAOS_LANES = 8
IDENTITY_CHECKS = 200
TASKS = 100
DAG_ID = "kube_fanout"
CHAIN = 6
CHAIN_ID = "kube_chain"
DAG = f"""
    from brisa import DAG, container

    with DAG("{DAG_ID}", max_active_tasks={TASKS}) as dag:
        for i in range({TASKS}):
            container(f"t{{i}}", "busybox:1.36", command=["true"])

    with DAG("{CHAIN_ID}") as line:
        tasks = [container(f"c{{i}}", "busybox:1.36", command=["true"]) for i in range({CHAIN})]
        for up, down in zip(tasks, tasks[1:]):
            up >> down
"""


def _attempt_key(pod: Any) -> tuple[str, str]:
    notes = pod["metadata"].get("annotations") or {}
    return notes.get("brisa.dev/run-id", ""), notes.get("brisa.dev/task-id", "")


class CreateTimes:
    """When the fake API server stored each pod, and when its kubelet reported the task's
    container started (the status Brisa reads `startedAt` from, which is whole seconds): (run
    id, task id) → wall time."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.started: dict[tuple[str, str], float] = {}
        cluster.state.subscribe(self._changed)

    def _changed(self, change: Change) -> None:
        """Called under the store's lock with every write, so the dicts need no lock of
        their own and the clock is read at the moment of the write."""
        if change.resource != "pods":
            return
        if change.type == "ADDED":
            self.seen[_attempt_key(change.obj)] = time.time()
        elif change.type == "MODIFIED" and _container_started(change.obj):
            self.started.setdefault(_attempt_key(change.obj), time.time())


def _container_started(pod: Any) -> bool:
    for entry in (pod.get("status") or {}).get("containerStatuses") or ():
        state = entry.get("state") or {}
        if "running" in state or "terminated" in state:
            return True
    return False


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(ordered: list[float], q: float) -> float:
    """The `q` quantile of sorted samples (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _env(cluster: FakeCluster, work: Path) -> dict[str, str]:
    token = work / "kube-token"
    token.write_text(cluster.token or "")
    return {
        "BRISA__SCHEDULER__POLL_INTERVAL": "1s",
        "BRISA__EXECUTOR__KIND": "kubernetes",
        "BRISA__EXECUTOR__PARALLELISM": str(2 * TASKS),
        "BRISA__KUBERNETES__SERVER": cluster.url,
        "BRISA__KUBERNETES__TOKEN_FILE": str(token),
        "BRISA__KUBERNETES__NAMESPACE": NAMESPACE,
        "BRISA__KUBERNETES__WORKER_IMAGE": "ghcr.io/acme/brisa:bench",
    }


def fanout(server: Standalone, creates: CreateTimes) -> dict[str, float]:
    """One measured fan-out: its figures."""
    assert server.proc is not None
    cpu_before = _cpu_seconds(server.proc.pid)
    run_id = server.trigger(DAG_ID)["run_id"]
    run = server.wait_for_run(DAG_ID, run_id, timeout=120.0, every=0.1)
    cpu = _cpu_seconds(server.proc.pid) - cpu_before
    if run["state"] != "success":
        raise RuntimeError(f"run {run_id} of {DAG_ID} ended {run['state']}")
    made = [creates.seen[(run_id, t["task_id"])] for t in run["tasks"]]
    waits = [
        (creates.seen[(run_id, t["task_id"])] - _ts(t["queued_at"])) * 1000 for t in run["tasks"]
    ]
    spread = max(made) - min(made)
    created = _ts(run["created_at"])
    keys = [(run_id, t["task_id"]) for t in run["tasks"]]
    running = sorted(creates.started[k] - created for k in keys)
    starts = sorted(creates.started[k] - creates.seen[k] for k in keys)
    return {
        "kube.trigger_to_running_p50": _pct(running, 0.50),
        "kube.trigger_to_running_p95": _pct(running, 0.95),
        "kube.pod_start_p50": _pct(starts, 0.50) * 1000,
        "kube.pod_start_p95": _pct(starts, 0.95) * 1000,
        "kube.burst_to_create_median": statistics.median(waits),
        "kube.burst_to_create_max": max(waits),
        "kube.create_rate": (len(made) - 1) / spread if spread > 0 else float(len(made)),
        "kube.fanout_seconds": _ts(run["end_date"]) - _ts(run["created_at"]),
        "kube.cpu_per_attempt": cpu * 1000 / TASKS,
    }


def chain(server: Standalone, creates: CreateTimes) -> dict[str, float]:
    """One chain run: how long each task waited, once ready, for its pod's create."""
    run_id = server.trigger(CHAIN_ID)["run_id"]
    run = server.wait_for_run(CHAIN_ID, run_id, timeout=60.0, every=0.1)
    tasks = {t["task_id"]: t for t in run["tasks"]}
    waits = [
        (creates.seen[(run_id, f"c{i}")] - _ts(tasks[f"c{i - 1}"]["end_date"])) * 1000
        for i in range(1, CHAIN)
    ]
    return {
        "kube.ready_to_create_median": statistics.median(waits),
        "kube.ready_to_create_max": max(waits),
    }


IMPORT = """
import time, brisa
started = time.perf_counter()
import brisa.executor.kubernetes.executor
{more}
print((time.perf_counter() - started) * 1000)
"""


def import_times() -> dict[str, float]:
    """Milliseconds to import the executor, without and with the lightkube adapter."""

    def timed(more: str) -> float:
        script = IMPORT.format(more=more)
        out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
        return float(out.stdout.decode().split()[-1])

    return {
        "kube.import_executor": timed(""),
        "kube.import_with_client": timed("import brisa.executor.kubernetes.lightkube_client"),
    }


def run(plan: Plan, work: Path, results: Results) -> None:
    """W9: `plan.kube_repetitions` measured fan-outs after one unmeasured one, and the
    executor's import times."""
    import_times()  # warm-up: the files in the page cache, bytecode compiled
    for _ in range(max(plan.cold_repetitions, plan.kube_repetitions)):
        results.add(import_times())
    folder = work / "kube"
    dags = folder / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / f"{DAG_ID}.py").write_text(textwrap.dedent(DAG))
    with FakeCluster(token="bench", namespaces=(NAMESPACE,)) as cluster:
        creates = CreateTimes(cluster)
        env = _env(cluster, folder)
        with Standalone(folder / "home", dags=dags, env=env) as server:
            server.start()
            server.wait_for_dag(DAG_ID, timeout=60.0)
            fanout(server, creates)  # warm-up: first imports, first connections
            server.wait_for_dag(CHAIN_ID, timeout=60.0)
            for _ in range(plan.kube_repetitions):
                results.add(fanout(server, creates))
                results.add(chain(server, creates))
    results.add(chaos(plan.kube_chaos_runs, folder)[0])
    results.add(identity_checks(folder))


def chaos(runs: int, work: Path) -> tuple[dict[str, float], list[ChaosRun], list[float]]:
    """K3: `runs` randomized reconciler runs, and `runs // 50` recoveries after a 410."""
    from concurrent.futures import ThreadPoolExecutor

    token = work / "chaos-token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("bench")
    with FakeCluster(
        token="bench", namespaces=(NAMESPACE,), bookmark_interval=0.2, history=50
    ) as cluster:
        api = connect(ApiAccess(server=cluster.url, token_file=str(token), timeout=10))
        with ThreadPoolExecutor(CHAOS_LANES) as lanes:
            done = list(
                lanes.map(lambda seed: chaos_run(cluster, api, NAMESPACE, seed), range(runs))
            )
        recoveries = [
            recovery_after_gone(cluster, api, NAMESPACE, str(n)) for n in range(max(1, runs // 50))
        ]
    settles = sorted(r.seconds for r in done if r.converged)
    figures = {
        "kube.chaos_runs": float(len(done)),
        "kube.chaos_runs_wrong": float(sum(not r.ok for r in done)),
        "kube.chaos_settle_p95": settles[int(0.95 * (len(settles) - 1))] if settles else 0.0,
        "kube.recovery_after_410_median": statistics.median(recoveries),
        "kube.recovery_after_410_max": max(recoveries),
    }
    return figures, done, recoveries


def identity_checks(work: Path, count: int = IDENTITY_CHECKS) -> dict[str, float]:
    """Milliseconds per pod identity check (ADR 0029) against the fake API server."""
    from brisa.core.records import AttemptRef
    from brisa.executor.kubernetes import naming
    from brisa.executor.kubernetes.podidentity import AUDIENCE, PodIdentity
    from brisa.testing.kube.objects import default_pod

    token = work / "identity-token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("bench")
    with FakeCluster(token="bench", namespaces=(NAMESPACE,)) as cluster:
        api = connect(ApiAccess(server=cluster.url, token_file=str(token), timeout=10))
        ref = AttemptRef(7, 1)
        labels = {naming.MANAGED_BY: "brisa", naming.TI: "7", naming.TRY: "1"}
        pod = {
            "metadata": {"name": naming.pod_name("bench", 7, 1), "labels": labels},
            "spec": {"containers": [{"name": "base", "image": "busybox:1.36"}]},
        }
        default_pod(pod, NAMESPACE)
        cluster.inject(Unschedulable())
        stored = cluster.state.create("pods", NAMESPACE, pod)
        proof = cluster.kubelet.tokens.mint(stored, AUDIENCE, 600)
        identity = PodIdentity(lambda: api, lambda team: NAMESPACE)
        identity("bench", ref, proof)  # warm-up: connections
        times = []
        for _ in range(count):
            began = time.perf_counter()
            identity("bench", ref, proof)
            times.append((time.perf_counter() - began) * 1000)
    return {"kube.identity_check_median": statistics.median(times)}


if __name__ == "__main__":  # `python -m bench.kube chaos [RUNS]`: K3 alone, printed
    import json
    import tempfile

    if sys.argv[1:2] == ["identity"]:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(identity_checks(Path(folder)), indent=1))
        raise SystemExit(0)
    if sys.argv[1:2] != ["chaos"]:
        raise SystemExit("usage: python -m bench.kube chaos [RUNS] | identity")
    with tempfile.TemporaryDirectory() as folder:
        count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
        figures, done, recoveries = chaos(count, Path(folder))
    faults = sum((r.faults for r in done), start=__import__("collections").Counter())
    wrong = [{"seed": r.seed, "mismatch": r.mismatch, "vanished": r.wrongly_vanished}
             for r in done if not r.ok]  # fmt: skip
    print(json.dumps({"figures": figures, "faults": dict(faults), "wrong": wrong[:10]}, indent=1))
