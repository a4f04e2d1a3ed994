"""What the log path costs one no-op attempt: `python -m bench.log_cost [N] [ROUNDS]`.

Not part of the suite (docs/benchmarks.md, "W7: the log path of a no-op attempt"). Workers
of W5's no-op task are started through the fork server, against W5's fake execution API, with
the log shipped to a local-folder store and with the log store disabled, alternately, N of
each per round. Every process the fork server starts (workers, log processes, what they fork)
stays in a cpuacct cgroup of its own (cgroup v1, root only): the CPU of an attempt is that
cgroup's usage from the launch until no process but the fork server is left in it, so workers
reaped by the kernel and orphaned log processes are counted too. Wall: launch -> worker
exited, as W5 measures it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.worker_cost import drop_worker_dag, execution_api, one_attempt
from brisa.executor.local.launchers import launcher
from brisa.logs.server import LOG_SERVER_NAME

CGROUP_ROOT = Path("/sys/fs/cgroup/cpuacct")


def _usage(group: Path) -> int:
    return int((group / "cpuacct.usage").read_text())


def _others(group: Path) -> int:
    """The processes in the cgroup but the fork server's log server (ADR 0025: long-lived,
    named `brisa-logs`; its CPU is in the cgroup's usage all the same)."""
    count = 0
    for pid in (group / "cgroup.procs").read_text().split():
        try:
            count += Path(f"/proc/{pid}/comm").read_text().strip() != LOG_SERVER_NAME
        except OSError:
            continue
    return count


def _settle(group: Path, keep: int, timeout: float = 30.0) -> None:
    """Until only `keep` processes (and the log server) are left in the cgroup."""
    deadline = time.monotonic() + timeout
    while _others(group) > keep:
        if time.monotonic() > deadline:
            raise TimeoutError("processes of the attempt still running")
        time.sleep(0.001)


def measure(attempts: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    group = CGROUP_ROOT / f"brisa-logcost-{os.getpid()}"
    group.mkdir()
    samples: dict[str, list[tuple[float, float]]] = {"shipped": [], "not shipped": []}
    try:
        with tempfile.TemporaryDirectory(prefix="brisa-logcost-") as tmp, execution_api() as api:
            folder = Path(tmp)
            drop_worker_dag(folder)
            envs = {
                "shipped": {"BRISA_LOGS_LOCATION": f"file://{folder / 'store'}"},
                "not shipped": {"BRISA_LOGS_LOCATION": ""},
            }
            (group / "cgroup.procs").write_text(str(os.getpid()))  # the fork server inherits it
            launch = launcher("forkserver")
            one_attempt(api, launch, folder, "warm-up", envs["shipped"])  # starts the server
            (CGROUP_ROOT / "cgroup.procs").write_text(str(os.getpid()))  # the driver leaves
            _settle(group, 1)
            try:
                for r in range(rounds):
                    for i in range(attempts):
                        for name, env in envs.items():
                            before = _usage(group)
                            wall = one_attempt(api, launch, folder, f"{r}-{i}-{name}", env)
                            _settle(group, 1)
                            cpu = (_usage(group) - before) / 1e6
                            samples[name].append((wall["exit"], cpu))
            finally:
                launch.close()  # type: ignore[attr-defined]
    finally:
        (CGROUP_ROOT / "cgroup.procs").write_text(str(os.getpid()))
        time.sleep(0.2)
        group.rmdir()
    return samples


def main(argv: list[str]) -> int:
    attempts = int(argv[0]) if argv else 20
    rounds = int(argv[1]) if len(argv) > 1 else 3
    samples = measure(attempts, rounds)
    for name, values in samples.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"{name:12} n={len(values)}  launch -> exit ms median {statistics.median(walls):.2f} "
            f"(min {min(walls):.2f})  CPU ms/attempt median {statistics.median(cpus):.2f} "
            f"(min {min(cpus):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
