"""W7 task logs: what shipping costs a task that prints a lot, how soon a running task's line
can be read from the object store, and how long a finished log takes to read back.

Workers are started by the local executor's own launcher (the fork server) against the fake
execution API of W5, with the local-folder object store; the task functions are in
`dagfiles.logs_dag()`.

- Overhead: the `chatty` task prints N bytes in 100-byte lines and times itself; the same
  worker runs it with log shipping and with the log store disabled (`BRISA_LOGS_LOCATION`
  empty: the output goes straight to the executor's file), alternately, in pairs.
- Follow latency: the `ticker` task prints `line <i> at <time.time()>` every 100 ms with
  `[logs] chunk_interval` = 1 s; the driver reads the log with `layout.read` from its last
  offset every 10 ms and notes, for each line, when it first became readable.
- End: W5's no-op task, its log shipped: launch -> worker exited (W5 has the same without
  shipping). The executor counts a worker against `[executor] parallelism` until it exits.
- Reading: a log of N chunks as a killed worker leaves it (no full.log), and the same bytes as
  one full.log, read whole with `layout.read`, page after page, from the local store.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import dagfiles
from bench.standalone import wait_until
from bench.worker_cost import (
    FakeExecutionApi,
    drop_worker_dag,
    execution_api,
    has_exited,
    one_attempt,
    start_worker,
    wait_exit,
    work_item,
    worker_output,
)
from brisa.executor.local.launchers import Launcher, launcher
from brisa.logs import layout
from brisa.logs.capture import SPOOL_SUFFIX
from brisa.logs.server import LOG_SERVER_NAME
from brisa.objectstore import ObjectStore, open_object_store

DAG_ID = "bench_logs"
_FILE = "bench_logs.py"
FOLLOW_INTERVAL = 1.0  # [logs] chunk_interval of the follow-latency runs
POLL = 0.01  # how often the follower reads
_LINE = re.compile(rb"^\S+ line (\d+) at ([\d.]+)$")
_RUN_TIMEOUT = 300.0


def _shipping_env(store: Path, chunk_interval: float = 5.0) -> dict[str, str]:
    return {
        "BRISA_LOGS_LOCATION": f"file://{store}",
        "BRISA_LOGS_CHUNK_INTERVAL": str(chunk_interval),
    }


def _run_id(name: str) -> str:
    return f"manual__{name}"


def _chatty_item(folder: Path, name: str, size: int) -> dict[str, Any]:
    params = {"out": str(folder / f"chatty-{name}.txt"), "bytes": size, "flush": False}
    return work_item(params, dag_id=DAG_ID, task_id="chatty", fileloc=_FILE, run_id=_run_id(name))


def _printing_seconds(folder: Path, item: dict[str, Any]) -> float:
    out = Path(item["params"]["out"])
    if not out.exists():
        raise RuntimeError(f"the worker did not run the task:\n{worker_output(folder, item)}")
    return float(out.read_text())


def _chatty(
    api: FakeExecutionApi, launch: Launcher, folder: Path, name: str, size: int, *, ship: bool
) -> float:
    """One attempt of `chatty`; the seconds its printing took."""
    item = _chatty_item(folder, name, size)
    env = _shipping_env(folder / "store") if ship else {"BRISA_LOGS_LOCATION": ""}
    _, pid = start_worker(api, launch, folder, item, env)
    wait_exit(pid, _RUN_TIMEOUT)
    return _printing_seconds(folder, item)


def _log_process(worker: int) -> tuple[int, bool]:
    """The process shipping the worker's log, and whether it is the fork server's log server
    (ADR 0025: it holds the worker's spool file open) rather than a log process of the
    worker's own (the child it forks before anything else)."""

    def found() -> tuple[int, bool] | None:
        with contextlib.suppress(OSError, ValueError):
            children = Path(f"/proc/{worker}/task/{worker}/children").read_text().split()
            if children:
                return int(children[0]), False
        server = _log_server_of(worker)
        return None if server is None else (server, True)

    return wait_until(found, 30.0, f"the log process of worker {worker}", every=0.0005)


def _log_server_of(worker: int) -> int | None:
    spool = f".{worker}{SPOOL_SUFFIX}"  # capture.spool_path: beside the worker's stdout file
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if not proc.name.isdigit() or (proc / "comm").read_text().strip() != LOG_SERVER_NAME:
                continue
            if any(os.readlink(fd).endswith(spool) for fd in (proc / "fd").iterdir()):
                return int(proc.name)
    return None


def _threads_cpu(pid: int, seen: dict[int, float]) -> None:
    """Note the CPU seconds of each thread of `pid` so far (/proc/PID/task/TID/schedstat, in
    ns: the process's own figure in /proc/PID/stat counts 10 ms ticks)."""
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                used = int((task / "schedstat").read_text().split()[0]) / 1e9
                seen[int(task.name)] = max(used, seen.get(int(task.name), 0.0))


def log_process_cpu(
    api: FakeExecutionApi, launch: Launcher, folder: Path, name: str, size: int
) -> dict[str, float]:
    """One attempt of `chatty` with shipping, untimed: the CPU time its log process used, per
    MB printed (its threads read from /proc every 2 ms until it is gone)."""
    item = _chatty_item(folder, name, size)
    _, worker = start_worker(api, launch, folder, item, _shipping_env(folder / "store"))
    log_process, server = _log_process(worker)
    seen: dict[int, float] = {}
    _threads_cpu(log_process, seen)
    # The log server lives on and serves other attempts: count what it used meanwhile (its
    # attempt's threads end once the worker has its "done"; the worker exits then).
    before = sum(seen.values()) if server else 0.0
    deadline = time.monotonic() + _RUN_TIMEOUT
    while not has_exited(worker if server else log_process) and time.monotonic() < deadline:
        _threads_cpu(log_process, seen)
        time.sleep(0.002)
    _threads_cpu(log_process, seen)
    wait_exit(worker, _RUN_TIMEOUT)
    _printing_seconds(folder, item)
    return {"logs.log_cpu_per_mb": (sum(seen.values()) - before) * 1000 / (size / 1e6)}


def _new_lines(buffer: bytearray, data: bytes, now: float, delays: dict[int, float]) -> None:
    """Note when each complete `line <i> at <t>` line was first read."""
    buffer += data
    *complete, rest = bytes(buffer).split(b"\n")
    buffer[:] = rest
    for line in complete:
        match = _LINE.match(line)
        if match:
            delays.setdefault(int(match.group(1)), now - float(match.group(2)))


def follow_latency(
    api: FakeExecutionApi, launch: Launcher, folder: Path, name: str, lines: int
) -> dict[str, float]:
    """One `ticker` attempt followed from the store: median and max print -> readable."""
    store = open_object_store(f"file://{folder / 'store'}")
    item = work_item(
        {"lines": lines}, dag_id=DAG_ID, task_id="ticker", fileloc=_FILE, run_id=_run_id(name)
    )
    prefix = layout.attempt_prefix("default", DAG_ID, item["run_id"], "ticker", 1)
    _, pid = start_worker(
        api, launch, folder, item, _shipping_env(folder / "store", FOLLOW_INTERVAL)
    )
    deadline = time.monotonic() + _RUN_TIMEOUT
    offset, buffer = 0, bytearray()
    delays: dict[int, float] = {}
    while True:
        gone = has_exited(pid)  # before the read: what it shipped last is in this read
        data, offset = layout.read(store, prefix, offset)
        _new_lines(buffer, data, time.time(), delays)
        if gone or time.monotonic() > deadline:
            break
        if not data:
            time.sleep(POLL)
    if sorted(delays) != list(range(lines)):
        raise RuntimeError(f"read {len(delays)} of {lines} lines:\n{worker_output(folder, item)}")
    return {
        "logs.follow_median": statistics.median(delays.values()),
        "logs.follow_max": max(delays.values()),
    }


def _write_log(store: ObjectStore, prefix: str, chunks: int, chunk_bytes: int) -> int:
    """A log of `chunks` chunks of about `chunk_bytes` bytes of 100-byte lines (no full.log);
    returns its size."""
    line = b"2026-11-24T10:00:00.000Z " + b"x" * 74 + b"\n"
    chunk = line * max(chunk_bytes // len(line), 1)
    for seq in range(1, chunks + 1):
        store.put(layout.chunk_key(prefix, seq), chunk)
    return len(chunk) * chunks


def _read_whole(store: ObjectStore, prefix: str, size: int) -> float:
    """Seconds to read the whole log, page after page, as a client paging through it does."""
    started = time.perf_counter()
    offset = 0
    while True:
        data, offset = layout.read(store, prefix, offset)
        if not data:
            break
    elapsed = time.perf_counter() - started
    if offset != size:
        raise RuntimeError(f"read {offset} bytes of a {size}-byte log under {prefix}")
    return elapsed


def reading(
    folder: Path, chunks: int, chunk_bytes: int, repetitions: int
) -> list[dict[str, float]]:
    """Read a finished log of `chunks` chunks whole, without full.log and with it."""
    store = open_object_store(f"file://{folder / 'read-store'}")
    killed = layout.attempt_prefix("default", DAG_ID, "killed", "t", 1)
    size = _write_log(store, killed, chunks, chunk_bytes)
    complete = layout.attempt_prefix("default", DAG_ID, "complete", "t", 1)
    store.put(complete + layout.FULL, store.get(layout.chunk_key(killed, 1)) * chunks)
    return [
        {
            "logs.read_chunks": _read_whole(store, killed, size) * 1000,
            "logs.read_full": _read_whole(store, complete, size) * 1000,
        }
        for _ in range(repetitions)
    ]


@contextlib.contextmanager
def _fork_server(
    api: FakeExecutionApi, folder: Path, cores: set[int] | None = None
) -> Iterator[Launcher]:
    """The local executor's fork server, warmed up by one attempt. With `cores`, it is started
    pinned to them, so every worker it forks (and each worker's log process) runs there."""
    launch = launcher("forkserver")
    everything = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, cores or everything)  # what the server inherits
        try:
            _chatty(api, launch, folder, f"warm-up-{len(cores or everything)}", 1000, ship=True)
        finally:
            os.sched_setaffinity(0, everything)
        yield launch
    finally:
        close = getattr(launch, "close", None)
        if close is not None:
            close()


def _pairs(
    api: FakeExecutionApi, launch: Launcher, folder: Path, name: str, size: int, pairs: int
) -> list[tuple[float, float]]:
    """Printing seconds without and with shipping, `pairs` times, each pair in the opposite
    order of the last (drift in the machine's load hits both sides alike)."""
    out = []
    for i in range(pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        seconds = {s: _chatty(api, launch, folder, f"{name}-{i}-{s}", size, ship=s) for s in order}
        out.append((seconds[False], seconds[True]))
    return out


def _percent(plain: float, shipped: float) -> float:
    return (shipped / plain - 1) * 100


def log_runs(
    folder: Path, print_bytes: int, pairs: int, follow_runs: int, follow_lines: int
) -> list[dict[str, float]]:
    """The shipping overhead (all cores, then the worker on one core), the log process's CPU
    and the follow latency, with workers forked by the fork server."""
    dagfiles.drop(folder, DAG_ID, dagfiles.logs_dag())
    drop_worker_dag(folder)
    figures: list[dict[str, float]] = []
    with execution_api() as api:
        with _fork_server(api, folder) as launch:
            for plain, shipped in _pairs(api, launch, folder, "all", print_bytes, pairs):
                figures.append(
                    {
                        "logs.print_plain": plain * 1000,
                        "logs.print_shipped": shipped * 1000,
                        "logs.overhead": _percent(plain, shipped),
                    }
                )
            for i in range(pairs):
                figures.append(log_process_cpu(api, launch, folder, f"cpu-{i}", print_bytes))
            for i in range(follow_runs):
                figures.append(follow_latency(api, launch, folder, f"follow-{i}", follow_lines))
            for i in range(pairs):
                noop = one_attempt(
                    api, launch, folder, f"noop-{i}", _shipping_env(folder / "store")
                )
                figures.append({"logs.noop_exit": noop["exit"]})
        with _fork_server(api, folder, {max(os.sched_getaffinity(0))}) as launch:
            for plain, shipped in _pairs(api, launch, folder, "one", print_bytes, pairs):
                figures.append({"logs.overhead_one_core": _percent(plain, shipped)})
    return figures
