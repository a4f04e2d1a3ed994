"""What warm imports save one attempt: `python -m bench.warm_cost [N] [ROUNDS] [SIZES...]`.

Not part of the suite (docs/benchmarks.md, "W2 CPU per attempt"; ADR 0014); needs root for
the cgroup. One no-op task of W2's fan-out DAG file of each size (100 and 1,000 tasks by
default), pinned to a commit whose snapshot is on this machine, started through two fork
servers against W5's fake execution API: one without warm imports ("cold"), one with them
("warm", whose warm process is started by an unmeasured first attempt). Attempts alternate,
N of each per round, the log shipped to a local-folder store. The CPU of an attempt is the
usage of a cgroup v2 holding both fork servers and all they start, from the launch until only
the long-lived processes (the two servers and the warm processes) are left: workers reaped by
the kernel and orphaned log processes included.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dagfiles
from bench.cpu import CpuGroup
from bench.worker_cost import FakeExecutionApi, execution_api, wait_exit
from brisa.core.records import CodeRef, WorkItem
from brisa.core.spec import PythonCall, TaskSpec
from brisa.executor.local.launchers import ForkServerLauncher
from brisa.repos.layout import RepoLayout
from brisa.worker.warmed import WarmKey

REPO = "bench"


def _settle(group: CpuGroup, keep: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(group.pids()) > keep:
        if time.monotonic() > deadline:
            raise TimeoutError("processes of the attempt still running")
        time.sleep(0.001)


def _item(n: int, code: CodeRef, name: str) -> dict[str, Any]:
    when = datetime.now(UTC)
    return WorkItem(team="default", dag_id=dagfiles.fanout_id(n), task_id="t0000",
                    run_id=f"manual__{name}", try_number=1, logical_date=when,
                    data_interval_start=when, data_interval_end=when, params={},
                    fileloc=f"fanout{n}.py", code_version=code.sha,
                    task=TaskSpec("t0000", PythonCall(function="noop")), upstream_values={},
                    repo=REPO, code=code).to_json()  # fmt: skip


def _attempt(
    api: FakeExecutionApi, launch: ForkServerLauncher, env: dict[str, str], item: dict[str, Any]
) -> float:
    api.item = item
    key = WarmKey("default", item["fileloc"], CodeRef.from_json(item["code"]))
    log = Path(env["BENCH_FOLDER"]) / f"{item['run_id']}.log"
    started = time.monotonic()
    pid = launch.start(["--ti", "1", "--try", "1", "--scope", "bench"], env, log, "t", key)
    wait_exit(pid, 120.0)
    return (time.monotonic() - started) * 1000


def measure(attempts: int, rounds: int, sizes: list[int]) -> dict[str, list[tuple[float, float]]]:
    group = CpuGroup.create(f"brisa-warmcost-{os.getpid()}")
    samples: dict[str, list[tuple[float, float]]] = {}
    parent = group.path.parent / "cgroup.procs"
    try:
        with tempfile.TemporaryDirectory(prefix="brisa-warmcost-") as tmp, execution_api() as api:
            folder, sha = Path(tmp), "b" * 40
            tree = RepoLayout.of(folder / "repos", REPO).snapshot_dir(sha)
            for n in sizes:
                dagfiles.drop(tree, f"fanout{n}", dagfiles.fanout(n))
            env = {**os.environ, "BRISA_API_URL": api.url, "BENCH_FOLDER": str(folder),
                   "BRISA_REPOS_ROOT": str(folder / "repos"),
                   "BRISA_LOGS_LOCATION": f"file://{folder / 'store'}"}  # fmt: skip
            code = CodeRef(repo=REPO, sha=sha)
            group.add(os.getpid())  # the fork servers are born inside
            launchers = {"cold": ForkServerLauncher(), "warm": ForkServerLauncher(warm=(8, 600))}
            for name, launch in launchers.items():
                for n in sizes:  # starts the servers, and the warm processes
                    _attempt(api, launch, env, _item(n, code, f"up-{name}-{n}"))
            parent.write_text(str(os.getpid()))  # the driver leaves
            keep = 2 + len(sizes)
            _settle(group, keep)
            try:
                for r in range(rounds):
                    for i in range(attempts):
                        for n in sizes:
                            for name, launch in launchers.items():
                                before = group.usage_ns()
                                item = _item(n, code, f"{r}-{i}-{name}-{n}")
                                wall = _attempt(api, launch, env, item)
                                _settle(group, keep)
                                cpu = (group.usage_ns() - before) / 1e6
                                samples.setdefault(f"{name} {n}", []).append((wall, cpu))
            finally:
                for launch in launchers.values():
                    launch.close()
    finally:
        group.remove()
    return samples


def main(argv: list[str]) -> int:
    attempts = int(argv[0]) if argv else 20
    rounds = int(argv[1]) if len(argv) > 1 else 3
    sizes = [int(a) for a in argv[2:]] or [100, 1000]
    for name, values in measure(attempts, rounds, sizes).items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"{name:10} n={len(values)}  launch -> exit ms median {statistics.median(walls):.1f}"
            f"  CPU ms/attempt median {statistics.median(cpus):.1f} (min {min(cpus):.1f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
