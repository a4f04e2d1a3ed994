"""W1 idle footprint: total PSS of every process of a standalone with one DAG loaded, a
while after start, and the CPU they use while nothing happens.

PSS (from /proc/PID/smaps_rollup) charges each shared page to the processes sharing it in
proportion, so the sum over processes is the real total; RSS would count shared pages twice.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.standalone import Standalone

_TICKS = os.sysconf("SC_CLK_TCK")


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss line in /proc/{pid}/smaps_rollup")


def cpu_seconds(pid: int) -> float:
    """CPU time of the process and of its children that have exited and been reaped.

    Summed over the live processes of an instance this counts every process of it once:
    a child is counted by itself while alive and by its parent once reaped.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICKS


def _total_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:  # exited between listing and reading: its parent counts it now
            continue
    return total


def measure(server: Standalone, settle: float, window: float) -> dict[str, float]:
    """Wait until `settle` s after launch, then measure CPU over `window` s, then PSS."""
    time.sleep(max(server.launched_at + settle - time.monotonic(), 0.0))
    cpu_before, started = _total_cpu(server.processes()), time.monotonic()
    time.sleep(window)
    cpu_after, elapsed = _total_cpu(server.processes()), time.monotonic() - started
    pids = server.processes()
    return {
        "idle.pss": sum(pss_kib(pid) for pid in pids) / 1024,
        "idle.cpu": 100 * (cpu_after - cpu_before) / elapsed,
        "idle.processes": float(len(pids)),
    }


def after_runs(server: Standalone, settle: float) -> dict[str, float]:
    """PSS once the runs are over and their workers gone: what stays resident after use
    (e.g. a worker fork server started by the first run)."""
    time.sleep(settle)
    pids = server.processes()
    return {
        "idle.pss_after_runs": sum(pss_kib(pid) for pid in pids) / 1024,
        "idle.processes_after_runs": float(len(pids)),
    }
