"""One repetition of the workloads that need a running `brisa standalone` (W0-W4).

A fresh home and DAG folder holding one DAG: launch (W0, empty state), let it idle (W1), drop
a new DAG file (W4), run the fan-outs (W2) and the chain (W3), idle again (W1), then stop it
and launch it again on the database it left (W0, existing database). The server is stopped
whatever happens.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import cpu, dagfiles, footprint, new_dag, runs, startup
from bench.figures import Results
from bench.plan import Plan
from bench.standalone import Standalone


def run_session(plan: Plan, workdir: Path, repetition: int, results: Results) -> None:
    """Add this repetition's figures to `results` as soon as each is measured."""
    home = workdir / f"standalone-{repetition}"
    dags = home / "dags"
    dagfiles.drop(dags, dagfiles.IDLE_DAG, dagfiles.fanout(3, dagfiles.IDLE_DAG))
    counting = cpu.Counting(f"brisa-bench-{os.getpid()}-{repetition}", results.notes)
    try:
        with Standalone(home / "home", dags) as server:
            results.add(startup.fresh(server))
            assert server.proc is not None
            meter = counting.watch(server.proc.pid)  # it and what it starts from now on
            results.add(footprint.measure(server, plan.idle_settle, plan.idle_window))
            results.add(new_dag.measure(server, repetition))
            runs.prepare(server, plan.fanouts, plan.chain, plan.light_chain)
            runs.warm_up(server)
            fanouts: dict[str, float] = {}
            for n in plan.fanouts:
                figures = runs.fanout(server, n, meter)
                results.add(figures)
                fanouts.update(figures)
            results.add(_cpu_growth(fanouts))
            results.add(runs.chain(server, plan.chain))
            results.add(runs.light_chain(server, plan.light_chain))
            results.add(footprint.after_runs(server, plan.idle_after_runs))
            results.add(startup.restart(server))
    finally:
        counting.close()


def _cpu_growth(figures: dict[str, float]) -> dict[str, float]:
    """How much more CPU an attempt costs in the fan-out of 1,000 than in that of 100."""
    if "fanout100.cpu" not in figures or "fanout1000.cpu" not in figures:
        return {}
    return {
        "fanout1000.cpu_growth": 100 * (figures["fanout1000.cpu"] / figures["fanout100.cpu"] - 1)
    }
