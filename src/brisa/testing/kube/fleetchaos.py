"""K8's chaos run (PLATFORM.md, ADR 0028): three `brisa scheduler` processes on PostgreSQL
under the Kubernetes executor (`KubeFleet`) run container tasks (short sleeps; some exit 1,
some are OOM killed, some evicted by the fake kubelet) while faults come every few seconds:
a scheduler SIGKILLed and started again, one SIGSTOPped past its lease and resumed, the
namespace's holder SIGKILLed, a running pod deleted behind Brisa's back. A pod of a task
instance that does not exist (an orphan) is planted at the start.

Once the faults stop, the checks:

- every run ends within `settle` seconds;
- every pod still on the fake API server is reported with its age past its attempt's
  completion (its container's end; an orphan's: its creation + `orphan_grace`); with
  `delete_policy = "always"` none may be older than completion + 60 s, with the default
  policy only failed pods may remain, each within `keep_failed_for` (+ 60 s);
- each (ti, try) had at most one pod created;
- each (ti, try)'s outcome was recorded once (`task_transitions`);
- no success was recorded for an attempt whose running pod was deleted before it ended.

Short settings so that a minute shows all of it: `[scheduler] lease_ttl` 3 s,
`[kubernetes] orphan_grace` 5 s, `keep_failed_for` 10 s. Used by the e2e test (small numbers)
and `python -m bench.kube_chaos` (longer).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.classify import finished_at, parse_time
from brisa.testing.kube.cluster import FakeCluster
from brisa.testing.kube.faults import Evicted, OomKilled, Unschedulable
from brisa.testing.kube.fleet import KubeFleet, PodRequests
from brisa.testing.kube.objects import default_pod

Json = dict[str, Any]
NAMESPACE = "brisa"
DAG_ID = "chaos"
FAULTS = ("kill", "freeze", "kill_holder", "delete_pod")
LEASE_TTL = 3.0
ORPHAN_GRACE = 5.0
KEEP_FAILED_FOR = 10.0
BOUND = 60.0  # K8: no Brisa pod older than its completion + this, after the run
ORPHAN = "brisa-orphan-0"
OUTCOMES = ("success", "failed", "up_for_retry")


def chaos_dag(tasks: int) -> str:
    """`tasks` container tasks, one try again each: most sleep and succeed; every 7th exits
    1, every 11th is OOM killed and every 13th evicted (`inject_failures`)."""
    return f"""
from brisa import DAG, container

with DAG("{DAG_ID}", schedule=None, max_active_tasks={tasks}, retries=1, retry_delay=1) as dag:
    for i in range({tasks}):
        script = "sleep %d; echo done" % (1 + i % 3)
        if i % 7 == 3:
            script = "sleep 1; echo failing; exit 1"
        container(f"c{{i}}", "busybox:1.36", command=["sh", "-c", script])
"""


@dataclass
class Config:
    duration: float = 40.0  # seconds of faults
    tasks: int = 12  # per run
    trigger_every: float = 8.0
    gap: tuple[float, float] = (3.0, 5.0)
    settle: float = 120.0  # for every run to end once the faults stop
    delete_policy: str = "always"
    schedulers: int = 3
    seed: int = 1


@dataclass
class Aged:
    pod: str
    phase: str
    past_completion: float  # seconds


@dataclass
class ChaosResult:
    config: Config
    runs: dict[str, str] = field(default_factory=dict)  # run id -> final state
    faults: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    pods_created: int = 0
    deleted_running: dict[str, tuple[int, int]] = field(default_factory=dict)  # pod -> attempt
    left: list[Aged] = field(default_factory=list)
    orphan_collected: bool = False
    settled_after: float | None = None
    oldest: float = 0.0  # seconds past its completion the oldest pod got, after the faults
    late: set[str] = field(default_factory=set)  # pods seen older than allowed + BOUND
    lags: dict[str, list[float]] = field(default_factory=dict)  # phase -> delete - completion
    violations: list[str] = field(default_factory=list)

    def render(self) -> str:
        left = ", ".join(f"{a.pod} ({a.phase}, {a.past_completion:.1f}s)" for a in self.left)
        return "\n".join((
            f"policy {self.config.delete_policy}, {self.config.schedulers} schedulers, "
            f"{len(self.runs)} runs ({dict(Counter(self.runs.values()))}), "
            f"{self.attempts} attempts, {self.pods_created} pods created",
            f"faults: {dict(self.faults)}; running pods deleted: {len(self.deleted_running)}",
            f"runs ended {self.settled_after}s after the faults stopped; orphan collected: "
            f"{self.orphan_collected}",
            "deleted pods, delete request past completion: "
            + "; ".join(f"{phase} {_spread(lags)}" for phase, lags in sorted(self.lags.items())),
            f"oldest pod past its completion after the faults: {self.oldest}s; "
            f"pods left: {len(self.left)} [{left}]",
            f"violations: {len(self.violations)}",
            *self.violations,
        ))  # fmt: skip


def run(config: Config, folder: Path, database_url: str) -> ChaosResult:
    result = ChaosResult(config)
    rng = random.Random(config.seed)
    env = {
        "BRISA__SCHEDULER__LEASE_TTL": f"{LEASE_TTL:g}s",
        "BRISA__KUBERNETES__DELETE_POLICY": config.delete_policy,
        "BRISA__KUBERNETES__KEEP_FAILED_FOR": f"{KEEP_FAILED_FOR:g}s",
        "BRISA__KUBERNETES__ORPHAN_GRACE": f"{ORPHAN_GRACE:g}s",
        "BRISA__POOLS__DEFAULT_SLOTS": "256",
    }
    with FakeCluster(token="chaos", namespaces=(NAMESPACE,)) as cluster:
        requests = PodRequests(cluster)
        _time_deletes(cluster, result)
        _inject_failures(cluster)
        fleet = KubeFleet(
            folder, database_url, cluster, namespace=NAMESPACE, schedulers=config.schedulers,
            dags={DAG_ID: chaos_dag(config.tasks)}, env=env,
        )  # fmt: skip
        try:
            fleet.start()
            fleet.wait_dag(DAG_ID, 120)
            _faults(fleet, cluster, config, rng, result)
            stopped = time.monotonic()
            for run_id in result.runs:
                result.runs[run_id] = str(fleet.wait_run(DAG_ID, run_id, config.settle)["state"])
            result.settled_after = round(time.monotonic() - stopped, 1)
            done = datetime.now(UTC)
            keep = KEEP_FAILED_FOR if config.delete_policy != "always" else 0.0
            fleet.wait_until(lambda: _settled(cluster, result), keep + BOUND + 20, "pods to go")
        except TimeoutError as exc:
            result.violations.append(str(exc).splitlines()[0])
            done = datetime.now(UTC)
        finally:
            fleet.close()
        _check(fleet, cluster, requests, result, done)
    return result


def _time_deletes(cluster: FakeCluster, result: ChaosResult) -> None:
    """Note, for every delete of a pod that has ended, how long after its end it came (and
    the pods that came later than the policy keeps them + BOUND)."""
    state = cluster.state
    delete = state.delete_pod

    def deleted(namespace: str, name: str, grace: int | None) -> Json:
        pod = state.find("pods", namespace, name)
        ended = None if pod is None else _completion(pod)
        if pod is not None and ended is not None:
            lag = round((datetime.now(UTC) - ended).total_seconds(), 1)
            phase = str((pod.get("status") or {}).get("phase"))
            result.lags.setdefault(phase, []).append(lag)
            if lag > _allowed(pod, result.config) + BOUND:
                result.late.add(name)
        return delete(namespace, name, grace)

    state.delete_pod = deleted  # type: ignore[method-assign]


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    return (
        f"{len(ordered)} pods, median {ordered[len(ordered) // 2]}s, "
        f"p99 {ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]}s, max {ordered[-1]}s"
    )


def _inject_failures(cluster: FakeCluster) -> None:
    def task(every: int, rest: int) -> Any:
        def match(pod: Json) -> bool:
            name = (pod["metadata"].get("labels") or {}).get(naming.TASK, "")
            return name.startswith("c") and name[1:].isdigit() and int(name[1:]) % every == rest

        return match

    cluster.inject(OomKilled(after=0.5), task(11, 5))
    cluster.inject(Evicted(after=0.5), task(13, 8))
    cluster.inject(Unschedulable(), lambda pod: pod["metadata"]["name"] == ORPHAN)


def _faults(
    fleet: KubeFleet, cluster: FakeCluster, config: Config, rng: random.Random, result: ChaosResult
) -> None:
    began = time.monotonic()
    fleet.wait_until(lambda: fleet.holder_slot() is not None, 30, "a namespace holder")
    result.runs[fleet.trigger(DAG_ID)] = ""
    fleet.wait_until(lambda: any(map(_running, cluster.pods(NAMESPACE))), 60, "a running pod")
    _plant_orphan(cluster)
    triggered, order = time.monotonic(), list(FAULTS)
    for step in range(10**6):
        if time.monotonic() - began >= config.duration:
            break
        time.sleep(rng.uniform(*config.gap))
        if time.monotonic() - triggered >= config.trigger_every:
            result.runs[fleet.trigger(DAG_ID)] = ""
            triggered = time.monotonic()
        if step % len(order) == 0:  # each kind of fault once per round, in a random order
            rng.shuffle(order)
            if step == 0:  # the first run's pods are running: delete one of them first
                order.remove("delete_pod")
                order.insert(0, "delete_pod")
        fault = order[step % len(order)]
        if _inject(fault, fleet, cluster, rng, result):
            result.faults[fault] += 1
    for slot in fleet.slots():  # the frozen resume, the killed are back
        proc = fleet.fleet.scheduler(slot)
        proc.signal(signal.SIGCONT)
        if not proc.alive():
            fleet.restart(slot)


def _inject(
    fault: str, fleet: KubeFleet, cluster: FakeCluster, rng: random.Random, result: ChaosResult
) -> bool:
    live = [s for s in fleet.slots() if fleet.fleet.scheduler(s).alive()]
    if fault == "kill_holder":
        holder = fleet.holder_slot()
        if holder is None:
            return False
        fleet.kill(holder)
        fleet.restart(holder)
    elif fault == "kill":
        slot = rng.choice(live)
        fleet.kill(slot)
        fleet.restart(slot)
    elif fault == "freeze":
        proc = fleet.fleet.scheduler(rng.choice(live))
        proc.signal(signal.SIGSTOP)  # past its lease: resumed LEASE_TTL + 2 s later
        timer = threading.Timer(LEASE_TTL + 2, proc.signal, (signal.SIGCONT,))
        timer.daemon = True
        timer.start()
    else:
        deadline = time.monotonic() + 8  # a pod of the next run, if none runs now
        running = [p for p in cluster.pods(NAMESPACE) if _running(p)]
        while not running and time.monotonic() < deadline:
            time.sleep(0.1)
            running = [p for p in cluster.pods(NAMESPACE) if _running(p)]
        if not running:
            return False
        name = rng.choice(running)["metadata"]["name"]
        pod = cluster.pod(NAMESPACE, name)
        if pod is None or not _running(pod):
            return False
        ref = naming.attempt_from_labels(pod["metadata"].get("labels") or {})
        if ref is None:
            return False
        cluster.state.delete_pod(NAMESPACE, name, 0)  # behind Brisa's back, at once
        result.deleted_running[name] = (ref.ti_id, ref.try_number)
    return True


def _running(pod: Json) -> bool:
    status = pod.get("status") or {}
    ended = any(
        (c.get("state") or {}).get("terminated") for c in status.get("containerStatuses") or ()
    )
    return status.get("phase") == "Running" and not ended and pod["metadata"]["name"] != ORPHAN


def _plant_orphan(cluster: FakeCluster) -> None:
    """A copy of a Brisa pod for a task instance that does not exist (kept Pending)."""
    model = cluster.pods(NAMESPACE)[0]
    labels = dict(model["metadata"].get("labels") or {})
    labels[naming.TI] = "999999999"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": ORPHAN, "labels": labels},
        "spec": {"containers": [{"name": "base", "image": "busybox:1.36"}]},
    }
    default_pod(pod, NAMESPACE)  # as the API server fills it in
    cluster.state.create("pods", NAMESPACE, pod)


def _settled(cluster: FakeCluster, result: ChaosResult) -> bool:
    """Whether every pod is gone; meanwhile the oldest a pod got past its completion."""
    pods, now = cluster.pods(NAMESPACE), datetime.now(UTC)
    for pod in pods:
        ended = _completion(pod)
        if ended is None:
            continue
        age = round((now - ended).total_seconds(), 1)
        result.oldest = max(result.oldest, age)
        if age > _allowed(pod, result.config) + BOUND:
            result.late.add(str(pod["metadata"]["name"]))
    return not pods


def _allowed(pod: Json, config: Config) -> float:
    """Seconds past its completion the deletion policy keeps a pod on purpose."""
    failed = (pod.get("status") or {}).get("phase") == "Failed"
    return KEEP_FAILED_FOR if failed and config.delete_policy != "always" else 0.0


def _completion(pod: Json) -> datetime | None:
    if pod["metadata"]["name"] == ORPHAN:
        created = parse_time(pod["metadata"].get("creationTimestamp"))
        return None if created is None else datetime.fromtimestamp(
            created.timestamp() + ORPHAN_GRACE, UTC
        )  # fmt: skip
    return finished_at(pod)


def _check(
    fleet: KubeFleet,
    cluster: FakeCluster,
    requests: PodRequests,
    result: ChaosResult,
    done: datetime,
) -> None:
    bad = result.violations
    now = datetime.now(UTC)
    for pod in cluster.pods(NAMESPACE):
        name, phase = pod["metadata"]["name"], str((pod.get("status") or {}).get("phase"))
        ended = _completion(pod) or done
        aged = Aged(name, phase, round((now - ended).total_seconds(), 1))
        result.left.append(aged)
        if aged.past_completion > _allowed(pod, result.config) + BOUND:
            bad.append(f"pod {name} ({phase}) is {aged.past_completion}s past its completion")
        if result.config.delete_policy == "always" or phase != "Failed":
            bad.append(f"pod {name} ({phase}) left, against delete_policy")
    bad += [f"pod {name} was seen older than its completion + {BOUND:g} s (+ the policy's keep)"
            for name in sorted(result.late)]  # fmt: skip
    result.orphan_collected = cluster.pod(NAMESPACE, ORPHAN) is None
    created = Counter(r.pod for r in requests.seen if r.verb == "create" and r.pod != ORPHAN)
    result.pods_created = sum(created.values())
    bad += [f"pod {name} created {n} times" for name, n in created.items() if n > 1]
    moves = fleet.moves()
    # An attempt's outcome: its move out of queued (a pod that failed before it ran) or running.
    outcomes = Counter(
        (ti, t) for ti, t, src, to, _ in moves if to in OUTCOMES and src in ("queued", "running")
    )
    result.attempts = len(outcomes)
    bad += [f"attempt {a} recorded {n} outcomes" for a, n in outcomes.items() if n > 1]
    successes = {(ti, t) for ti, t, _, to, _ in moves if to == "success"}
    for name, ref in result.deleted_running.items():
        if ref in successes:
            bad.append(f"attempt {ref} recorded success though its running pod {name} was deleted")
    bad += [
        f"run {r} ended {s or 'never'}"
        for r, s in result.runs.items()
        if s not in ("success", "failed")
    ]


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
