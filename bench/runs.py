"""W2 fan-out and W3 chain: runs triggered through the REST API, timed with the API's own
timestamps (run created → run ended; task end → next task start), so that how often the
driver polls does not change the figures."""

from __future__ import annotations

import itertools
import statistics
from datetime import datetime
from typing import Any

from bench import dagfiles
from bench.cpu import InstanceCpu
from bench.standalone import Standalone


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def prepare(server: Standalone, fanouts: tuple[int, ...], chain: int, light: int) -> None:
    """Drop the DAG files of the runs to come and wait until they are listed."""
    files = {dagfiles.fanout_id(n): dagfiles.fanout(n) for n in fanouts}
    files[dagfiles.chain_id(chain)] = dagfiles.chain(chain)
    files[dagfiles.light_chain_id(light)] = dagfiles.light_chain(light)
    for dag_id, source in files.items():
        dagfiles.drop(server.dags, dag_id, source)
    for dag_id in files:
        server.wait_dag(dag_id, timeout=120.0, every=0.1)


def _finished_run(server: Standalone, dag_id: str, tasks: int) -> Any:
    run_id = server.trigger(dag_id)["run_id"]
    # Patience grows with the run's size; polling is light since timings come from the API.
    run = server.wait_for_run(dag_id, run_id, timeout=120.0 + 2.0 * tasks, every=0.2)
    if run["state"] != "success":
        failed = [t["task_id"] for t in run["tasks"] if t["state"] != "success"]
        raise RuntimeError(f"run {run_id} of {dag_id} ended {run['state']}; not ok: {failed}")
    return run


def _duration(run: Any) -> float:
    return (_ts(run["end_date"]) - _ts(run["created_at"])).total_seconds()


def warm_up(server: Standalone) -> None:
    """One unmeasured run of the idle DAG (3 tasks), so that starting the worker fork server
    (once per standalone) is not in the first fan-out's figures."""
    _finished_run(server, dagfiles.IDLE_DAG, 3)


def fanout(server: Standalone, n: int, cpu: InstanceCpu | None = None) -> dict[str, float]:
    """W2: n independent tasks, trigger -> run success, and tasks per second; with `cpu`,
    the CPU of every process of the standalone per attempt, and its shares."""
    if cpu is not None:
        cpu.begin()
    seconds = _duration(_finished_run(server, dagfiles.fanout_id(n), n))
    figures = {f"fanout{n}.seconds": seconds, f"fanout{n}.rate": n / seconds}
    if cpu is not None:
        spent = cpu.end()
        figures[f"fanout{n}.cpu"] = spent.pop("total") / n
        figures.update({f"fanout{n}.cpu_{kind}": ms / n for kind, ms in spent.items()})
    return figures


def _gaps(run: Any) -> list[float]:
    """Each task's start minus its upstream neighbour's end (ms), in a chain run."""
    tasks = sorted(run["tasks"], key=lambda t: t["task_id"])
    return [
        (_ts(after["start_date"]) - _ts(before["end_date"])).total_seconds() * 1000
        for before, after in itertools.pairwise(tasks)
    ]


def chain(server: Standalone, n: int) -> dict[str, float]:
    """W3: n tasks in a line; the gaps between one task's end and the next one's start."""
    run = _finished_run(server, dagfiles.chain_id(n), n)
    gaps = _gaps(run)
    return {
        f"chain{n}.seconds": _duration(run),
        f"chain{n}.gap_median": statistics.median(gaps),
        f"chain{n}.gap_max": max(gaps),
    }


def light_chain(server: Standalone, n: int) -> dict[str, float]:
    """W3, issue 14's shape: n tasks in a line, each returning a tiny function of its
    upstream's return value; trigger -> run success, and the median gap."""
    dag_id = dagfiles.light_chain_id(n)
    run = _finished_run(server, dag_id, n)
    last = max(run["tasks"], key=lambda t: t["task_id"])
    path = f"{server.dag_path(dag_id)}/runs/{run['run_id']}/tasks/{last['task_id']}/attempts/1"
    value = server.get(path)["return_value"]  # read after the timing: not in the figures
    if value != n:  # the first task returns 0 + 1, each next one 1 more
        raise RuntimeError(f"the chain of {n} computed {value!r}, not {n}")
    return {
        f"light_chain{n}.seconds": _duration(run),
        f"light_chain{n}.gap_median": statistics.median(_gaps(run)),
    }
