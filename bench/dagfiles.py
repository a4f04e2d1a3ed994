"""The DAG files the workloads use, written into a standalone's DAG folder.

Every task is a no-op Python function. A DAG's `max_active_tasks` is its task count, so that
the only concurrency limit in play is the executor's own (`[executor] parallelism`).
"""

from __future__ import annotations

import os
from pathlib import Path

_HEADER = '''"""Written by the benchmark suite (bench/dagfiles.py)."""

from brisa import DAG, task


@task
def noop():
    pass

'''

_FANOUT = """
with DAG("{dag_id}", max_active_tasks={n}, description="bench: {n} independent tasks"):
    for i in range({n}):
        noop.override(task_id=f"t{{i:04d}}")()
"""

_CHAIN = """
with DAG("{dag_id}", description="bench: {n} tasks in a line"):
    previous = None
    for i in range({n}):
        current = noop.override(task_id=f"t{{i:04d}}")()
        if previous is not None:
            previous >> current
        previous = current
"""

# Issue 14's chain of lightweight tasks: each computes a tiny function of its upstream's small
# return value (which flows down as an argument), the shape of a public workflow-engine
# benchmark.
_LIGHT = '''"""Written by the benchmark suite (bench/dagfiles.py)."""

from brisa import DAG, task


@task
def step(value):
    return value + 1


with DAG("{dag_id}", description="bench: {n} lightweight tasks in a line"):
    current = step.override(task_id="t0000")(0)
    for i in range(1, {n}):
        current = step.override(task_id=f"t{{i:04d}}")(current)
'''

_WORKER = '''"""Written by the benchmark suite: W5's task records when user code starts running."""

import time

from brisa import DAG, task


@task
def mark(context):
    with open(context.params["out"], "w") as out:
        out.write(repr(time.time()))


with DAG("bench_worker"):
    mark()
'''

_LOGS = '''"""Written by the benchmark suite: W7's tasks print for the log shipping figures."""

import sys
import time

from brisa import DAG, task


@task
def chatty(context):
    """Print `bytes` bytes in lines of 100 bytes; write how long that took (seconds)."""
    filler = "x" * 86
    started = time.perf_counter()
    for i in range(context.params["bytes"] // 100):
        print(f"line {i:07d} {filler}", flush=context.params["flush"])
    sys.stdout.flush()
    elapsed = time.perf_counter() - started
    with open(context.params["out"], "w") as out:
        out.write(repr(elapsed))


@task
def ticker(context):
    """A line every 100 ms saying when it was printed (Python's buffered stdout)."""
    for i in range(context.params["lines"]):
        print(f"line {i} at {time.time():.6f}")
        time.sleep(0.1)


with DAG("bench_logs"):
    chatty()
    ticker()
'''


IDLE_DAG = "bench_idle"  # the one DAG a fresh standalone starts with (W0, W1)


def new_dag_id(i: int) -> str:
    return f"bench_new_{i}"


def fanout_id(n: int) -> str:
    return f"bench_fanout_{n}"


def chain_id(n: int) -> str:
    return f"bench_chain_{n}"


def light_chain_id(n: int) -> str:
    return f"bench_light_chain_{n}"


def fanout(n: int, dag_id: str | None = None) -> str:
    return _HEADER + _FANOUT.format(dag_id=dag_id or fanout_id(n), n=n)


def chain(n: int) -> str:
    return _HEADER + _CHAIN.format(dag_id=chain_id(n), n=n)


def light_chain(n: int) -> str:
    return _LIGHT.format(dag_id=light_chain_id(n), n=n)


def worker_dag() -> str:
    return _WORKER


def logs_dag() -> str:
    return _LOGS


def drop(folder: Path, name: str, source: str) -> Path:
    """Put a complete file in the folder at once (written aside, then renamed into place),
    so that the DAG processor never sees it half-written."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.py"
    hidden = folder / f".{name}.partial"
    hidden.write_text(source)
    os.replace(hidden, target)
    return target
