"""`[executor] kind = "kubernetes"` end to end: a real standalone whose executor talks real
HTTP to the fake API server of `brisa.testing.kube`, whose fake kubelet runs each pod's
command as a local process (worker pods run `brisa task run`; a container task's "image" runs
its own command). One cluster and one standalone serve the module; pods are kept
(`delete_policy = "never"`) so that the tests can count them.
"""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_metrics_endpoints import scrape, value

from brisa.testing.kube import FakeCluster
from support.standalone import EXAMPLES, Standalone

NAMESPACE = "brisa"
FAULT = "fake.brisa.dev/fault"

DAGS = {
    "fan_out.py": """
        from brisa import DAG, container

        with DAG("fan_out", max_active_tasks=100) as dag:
            for i in range(100):
                container(f"t{i}", "busybox:1.36", command=["true"])
    """,
    "containers.py": """
        from brisa import DAG, Param, container

        with DAG("containers", params={"who": Param("world")}) as dag:
            sh = ["sh", "-c"]
            hello = "echo hello {{ params.who | shquote }} on {{ ds }}; echo e >&2"
            container("hello", "alpine:3.20", command=[*sh, hello])
            container("exits", "alpine:3.20", command=[*sh, "echo bad row >&2; exit 3"], retries=1,
                      retry_delay=0)
            container("slow", "alpine:3.20", command=[*sh, "echo first; sleep 2; echo second"])
    """,
    "results.py": '''
        from brisa import DAG, Param, container, task

        @task
        def double(counted):
            return {"rows": counted["rows"] * 2, "key_masked": counted["key"] == "***"}

        with DAG("results", params={"key": Param("k3y-s3cr3t-v4lue", secret=True)}) as dag:
            write = """printf '{"rows": 3, "key": "%s"}' "$KEY" > /dev/termination-log"""
            env = {"KEY": "{{ params.key }}"}
            double(container("count", "alpine:3.20", command=["sh", "-c", write], env=env))
            text = "echo rows: three > /dev/termination-log"
            container("text", "alpine:3.20", command=["sh", "-c", text])
            container("nothing", "alpine:3.20", command=["true"])
    ''',
    "faults.py": """
        from brisa import DAG, container, shell

        def fault(name):
            return {"annotations": {"fake.brisa.dev/fault": name}}

        with DAG("faults") as dag:
            image, sleep = "alpine:3.20", ["sleep", "5"]
            container("unschedulable", image, command=["true"], pod=fault("unschedulable"))
            nope = "ghcr.io/acme/nope:1"
            container("image_pull", nope, command=["true"], pod=fault("image-pull"))
            shell("oom", "sleep 5", retries=1, retry_delay=0,
                  pod={"limits": {"memory": "512Mi"}, **fault("oom:0.5")})
            container("evicted", image, command=sleep, pod=fault("evicted:0.3"))
            container("node_lost", image, command=sleep, pod=fault("node-lost:0.3"))
            container("deleted", image, command=sleep, pod=fault("deleted:0.3"))
    """,
    "waits.py": """
        from brisa import DAG, container

        def fault(name):
            return {"annotations": {"fake.brisa.dev/fault": name}}

        with DAG("waits") as dag:
            container("slow", "alpine:3.20", command=["true"], pod=fault("slow-start:4"))
            container("nowhere", "alpine:3.20", command=["true"], pod=fault("unschedulable"))
    """,
    "watched.py": """
        from brisa import DAG, container

        with DAG("watched") as dag:
            for i in range(6):
                container(f"w{i}", "alpine:3.20", command=["sh", "-c", f"sleep 1.{i}"])
    """,
}


def kube_env(cluster: FakeCluster, home: Path, **extra: str) -> dict[str, str]:
    """The standalone's settings: the Kubernetes executor against `cluster`."""
    token = home.parent / "kube-token"
    token.write_text(cluster.token or "")
    return {
        "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
        "BRISA__LOGS__CHUNK_INTERVAL": "300ms",
        "BRISA__EXECUTOR__KIND": "kubernetes",
        "BRISA__KUBERNETES__SERVER": cluster.url,
        "BRISA__KUBERNETES__TOKEN_FILE": str(token),
        "BRISA__KUBERNETES__NAMESPACE": NAMESPACE,
        "BRISA__KUBERNETES__WORKER_IMAGE": "ghcr.io/acme/brisa:test",
        "BRISA__KUBERNETES__PENDING_TIMEOUT": "3s",
        "BRISA__KUBERNETES__INFRA_RETRIES": "1",
        "BRISA__EXECUTOR__PARALLELISM": "128",
        **extra,
    }


def write_dags(folder: Path, names: list[str], examples: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if examples:
        for example in EXAMPLES.glob("*.py"):
            (folder / example.name).write_text(example.read_text())
    for name in names:
        (folder / name).write_text(textwrap.dedent(DAGS[name]))
    return folder


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def brisa(cluster: FakeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    root = tmp_path_factory.mktemp("kube")
    dags = write_dags(root / "dags", list(DAGS), examples=True)
    env = kube_env(cluster, root / "home", BRISA__KUBERNETES__DELETE_POLICY="never")
    with Standalone(root / "home", dags=dags, env=env, copy_examples=False) as server:
        server.start()
        yield server


def finished(server: Standalone, dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    server.wait_for_dag(dag_id)
    run = server.trigger(dag_id, conf)
    return server.wait_for_run(dag_id, run["run_id"], timeout=60)


def tasks_of(run: Any) -> dict[str, Any]:
    return {t["task_id"]: t for t in run["tasks"]}


def pods_per_attempt(cluster: FakeCluster, dag_id: str, run_id: str) -> Counter[tuple[str, str]]:
    """How many pods each (task, try) of a run got, from the pods themselves."""
    found: Counter[tuple[str, str]] = Counter()
    for pod in cluster.pods(NAMESPACE):
        meta = pod["metadata"]
        ids = meta["annotations"]
        if (ids["brisa.dev/dag-id"], ids["brisa.dev/run-id"]) == (dag_id, run_id):
            found[(ids["brisa.dev/task-id"], meta["labels"]["brisa.dev/try"])] += 1
    return found


def log_of(server: Standalone, dag_id: str, run_id: str, task_id: str, attempt: int = 0) -> str:
    path = f"{server.dag_path(dag_id)}/runs/{run_id}/tasks/{task_id}/logs"
    return str(server.get(path + (f"?try_number={attempt}" if attempt else ""))["content"])


@pytest.mark.parametrize("dag_id", ["etl_orders", "shell_pipeline", "flaky_with_retries"])
def test_the_examples_run_in_worker_pods_one_per_attempt(
    brisa: Standalone, cluster: FakeCluster, dag_id: str
) -> None:
    run = finished(brisa, dag_id)
    tasks = tasks_of(run)
    expected = {"flaky_with_retries": "success"}.get(dag_id, "success")
    assert run["state"] == expected, tasks
    attempts = pods_per_attempt(cluster, dag_id, run["run_id"])
    assert set(attempts.values()) == {1}  # one pod per (run, task, try), never two
    tries = sum(t["try_number"] for t in tasks.values() if t["try_number"])
    assert sum(attempts.values()) == tries


def test_a_100_task_fan_out_runs_one_pod_per_task(brisa: Standalone, cluster: FakeCluster) -> None:
    run = finished(brisa, "fan_out")
    assert run["state"] == "success"
    assert all(t["try_number"] == 1 for t in run["tasks"])
    attempts = pods_per_attempt(cluster, "fan_out", run["run_id"])
    assert len(attempts) == 100 and set(attempts.values()) == {1}


def test_a_container_task_runs_its_own_image_with_params_and_its_exit_code_decides(
    brisa: Standalone,
) -> None:
    run = finished(brisa, "containers", {"who": "ada"})
    tasks = tasks_of(run)
    assert tasks["hello"]["state"] == "success"
    log = log_of(brisa, "containers", run["run_id"], "hello")
    assert f"hello ada on {run['logical_date'][:10]}" in log and "\ne\n" in log
    assert (tasks["exits"]["state"], tasks["exits"]["try_number"]) == ("failed", 2)
    assert tasks["exits"]["error"] == "exit code 3"
    assert "bad row" in log_of(brisa, "containers", run["run_id"], "exits")


def test_a_container_task_returns_its_termination_message_to_the_api_and_downstream(
    brisa: Standalone,
) -> None:
    run = finished(brisa, "results")
    tasks = tasks_of(run)
    assert all(t["state"] == "success" for t in tasks.values()), tasks
    path = f"{brisa.dag_path('results')}/runs/{run['run_id']}/tasks"
    # JSON, masked as a worker's return value is (the secret param came in through env).
    assert brisa.get(f"{path}/count")["return_value"] == {"rows": 3, "key": "***"}
    # The downstream worker task got it as its argument, stored masked.
    assert brisa.get(f"{path}/double")["return_value"] == {"rows": 6, "key_masked": True}
    # Not JSON: the text; no message: nothing.
    assert brisa.get(f"{path}/text")["return_value"] == "rows: three"
    assert brisa.get(f"{path}/nothing")["return_value"] is None


def test_a_container_tasks_log_is_readable_while_it_runs(brisa: Standalone) -> None:
    brisa.wait_for_dag("containers")
    run = brisa.trigger("containers", {})
    task = f"{brisa.dag_path('containers')}/runs/{run['run_id']}/tasks/slow"

    def first_line_while_running() -> bool:
        state = brisa.get(task)["state"]
        return state == "running" and "first" in brisa.get(task + "/logs")["content"]

    brisa.wait_until(first_line_while_running, 30, "the first line while the task runs")
    done = brisa.wait_for_run("containers", run["run_id"])
    assert "second" in log_of(brisa, "containers", done["run_id"], "slow")


def test_each_injected_fault_ends_its_attempt_with_its_reason(brisa: Standalone) -> None:
    run = finished(brisa, "faults")
    tasks = tasks_of(run)
    errors = {tid: t["error"] or "" for tid, t in tasks.items()}
    assert all(t["state"] == "failed" for t in tasks.values()), errors
    assert "pending for more than 3s" in errors["unschedulable"]
    assert "Insufficient memory" in errors["unschedulable"]
    assert errors["image_pull"].startswith(("ErrImagePull", "ImagePullBackOff")), errors
    assert errors["oom"] == "OOMKilled (container base, exit 137, limit 512Mi)"
    assert tasks["oom"]["try_number"] == 2  # its retry, which OOMs as well
    assert "infrastructure failure (evicted)" in errors["evicted"]
    assert "infrastructure failure (node lost)" in errors["node_lost"]
    assert "deleted by someone else" in errors["deleted"]
    for infra in ("evicted", "node_lost", "deleted"):
        # the first try did not count against the task's retries (retries=0): a second ran
        assert tasks[infra]["try_number"] == 2, (infra, tasks[infra])
    # Counted by team and reason, each pod once (each task's two tries ended the same way).
    got = scrape(brisa.url)
    failures = "brisa_infra_failures_total"
    for reason in ("evicted", "node_lost", "pod_deleted_by_someone_else"):
        assert value(got, failures, team="default", reason=reason) == 2, (reason, got)


def test_pod_start_and_pending_times_are_measured_by_team(brisa: Standalone) -> None:
    before = scrape(brisa.url)
    run = finished(brisa, "watched")
    assert run["state"] == "success"
    got = scrape(brisa.url)
    for name in ("brisa_pod_start_seconds", "brisa_pods_pending_seconds"):
        count = (value(got, f"{name}_count", team="default") or 0) - (
            value(before, f"{name}_count", team="default") or 0
        )
        assert count >= 6, name  # one per pod (and the module's other runs' late ones)
        # The API server's times are whole seconds: the fake starts pods within one or two.
        assert 0 <= (value(got, f"{name}_sum", team="default") or 0) < count * 10


def test_why_a_queued_task_is_not_running_shows_its_pod(brisa: Standalone) -> None:
    brisa.wait_for_dag("waits")
    run = brisa.trigger("waits", {})
    tasks = f"{brisa.dag_path('waits')}/runs/{run['run_id']}/tasks"

    def waiting(task: str, event: str) -> Any:
        found = brisa.get(f"{tasks}/{task}/attempts/1")
        pod = found.get("pod") or {}
        return found if any(event in e for e in pod.get("events", ())) else None

    slow = brisa.wait_until(lambda: waiting("slow", "Scheduled"), 10, "slow's pod")
    pod = slow["pod"]
    assert (pod["phase"], pod["node"], pod["image"]) == ("Pending", "fake-node-1", "alpine:3.20")
    assert pod["name"].startswith("brisa-default-") and len(pod["events"]) <= 5
    assert (
        f"its pod {pod['name']} is Pending, on node fake-node-1, image alpine:3.20"
        in (slow["waiting"])
    )
    nowhere = brisa.wait_until(lambda: waiting("nowhere", "FailedScheduling"), 10, "its event")
    assert (nowhere["pod"]["phase"], nowhere["pod"]["node"]) == ("Pending", "")
    assert any(
        line.startswith("pod event: Warning FailedScheduling: 0/3 nodes are available")
        for line in nowhere["waiting"]
    ), nowhere["waiting"]
    brisa.wait_for_run("waits", run["run_id"], timeout=30)
    done = brisa.get(f"{tasks}/slow/attempts/1")
    assert done["pod"] is None and done["waiting"] == []  # it started: nothing to explain


def test_a_dropped_watch_and_a_410_mid_run_lose_no_event(
    brisa: Standalone, cluster: FakeCluster
) -> None:
    brisa.wait_for_dag("watched")
    run = brisa.trigger("watched", {})
    pods = lambda: pods_per_attempt(cluster, "watched", run["run_id"])  # noqa: E731
    brisa.wait_until(pods, 30, "pods to be created")
    cluster.api.drop_watches()
    cluster.api.expire_next_watch(2)
    time.sleep(0.3)
    cluster.api.drop_watches()
    done = brisa.wait_for_run("watched", run["run_id"], timeout=60)
    assert done["state"] == "success", tasks_of(done)
    assert all(t["try_number"] == 1 for t in done["tasks"])
