"""The benchmark driver: `python -m bench [--quick] [--out FILE.md] [--json FILE.json]`.

Runs every workload (W0-W10) the plan's number of times in a temporary folder, stops
everything it started, and writes the JSON results and the markdown table. The full suite
writes docs/benchmarks.md; the quick one writes under bench/results/ unless told otherwise, so
that a quick check never replaces the committed full run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from bench import (
    environment,
    kube,
    kube_restart,
    log_shipping,
    repo_sync,
    report,
    scheduler_fleet,
    scheduler_scale,
    worker_cost,
)
from bench import ui as web_ui
from bench.figures import WORKLOADS, Results
from bench.plan import FULL, QUICK, Plan
from bench.session import run_session

REPO = environment.REPO


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _guarded(results: Results, what: str, work: Callable[[], None]) -> None:
    """Run one piece of work; a failure is recorded and the other workloads still run."""
    _say(what)
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - reported in the results and the exit code
        traceback.print_exc()
        results.errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:500]}")


def _worker_cost(plan: Plan, work: Path, results: Results) -> None:
    for figures in worker_cost.worker_runs(work / "worker", plan.worker_repetitions):
        results.add(figures)
    for _ in range(plan.cold_repetitions):
        results.add(worker_cost.cold_commands())


def _scheduler_scale(plan: Plan, work: Path, results: Results) -> None:
    from brisa.settings import load

    parallelism = load(home=work / "settings", environ=os.environ).executor.parallelism
    for backend in plan.scale_backends:
        problem = scheduler_scale.postgres_problem() if backend == "postgresql" else None
        if problem:
            results.notes.append(f"W6 on PostgreSQL not run: server unreachable ({problem})")
            continue
        measure = partial(
            scheduler_scale.run_backend,
            backend,
            work / "scale",
            plan.scale_dags,
            plan.scale_tasks,
            parallelism,
        )
        for rep in range(plan.scale_repetitions):
            what = f"W6 scheduler scale on {backend} ({rep + 1}/{plan.scale_repetitions})"
            _guarded(results, what, lambda m=measure: results.add(m()))
    results.notes.append(
        f"W6 executor: attempts complete between scheduling passes (untimed); parallelism "
        f"{parallelism} (`[executor] parallelism`); decisions = actions applied; transitions "
        f"= run and task-instance state moves applied, per second inside passes."
    )
    if "postgresql" in plan.scale_backends and not scheduler_scale.postgres_problem():
        _scheduler_fleet(plan, work, results, parallelism)


def _scheduler_fleet(plan: Plan, work: Path, results: Results, parallelism: int) -> None:
    """W6 with 1, 2 and 3 scheduler processes on one PostgreSQL, wake-ups on and off."""
    for schedulers in (1, 2, 3):
        for notify in (True, False):
            wake = "notify" if notify else "poll"
            what = f"W6 with {schedulers} scheduler(s) on PostgreSQL, {wake}"

            def measure(n: int = schedulers, on: bool = notify, key: str = wake) -> None:
                figures = scheduler_fleet.run_fleet(
                    work / "fleet", plan.scale_dags, plan.scale_tasks, parallelism, n, notify=on
                )
                shown = ("wall_rate", "pass_rate", "db_commits_per_transition", "lock_waits_max",
                         "connections_per_scheduler_max")  # fmt: skip
                results.add({f"fleet.{n}.{key}.{name}": figures[name] for name in shown})

            _guarded(results, what, measure)
    for schedulers in (1, 2, 3):  # H7's latency: 1,000 tasks a minute per scheduler, 60 s

        def paced(n: int = schedulers) -> None:
            figures = scheduler_fleet.run_fleet(
                work / "fleet", 0, plan.scale_tasks, parallelism, n, notify=True,
                pace=1000.0, seconds=60.0,
            )  # fmt: skip
            shown = ("ready_to_queued_p50", "ready_to_queued_p99", "ready_to_queued_max")
            results.add({f"fleet.{n}.paced.{name}": figures[name] for name in shown})

        _guarded(results, f"W6 paced at 1,000 tasks/min per scheduler, {schedulers}", paced)


def _task_logs(plan: Plan, work: Path, results: Results) -> None:
    folder = work / "logs"
    runs = log_shipping.log_runs(
        folder, plan.log_print_bytes, plan.log_repetitions, plan.log_follow_runs,
        plan.log_follow_lines,
    )  # fmt: skip
    reads = log_shipping.reading(
        folder, plan.log_read_chunks, plan.log_chunk_bytes, plan.log_repetitions
    )
    for figures in [*runs, *reads]:
        results.add(figures)


SESSION = ("W0", "W1", "W2", "W3", "W4")  # measured together, in standalone sessions


def run(plan: Plan, only: frozenset[str] = frozenset(WORKLOADS)) -> Results:
    """The workloads in `only` (all by default)."""
    results = Results()
    with tempfile.TemporaryDirectory(prefix="brisa-bench-") as tmp:
        work = Path(tmp)
        for rep in range(plan.standalone_repetitions if only & set(SESSION) else 0):
            _guarded(
                results,
                f"W0-W4 standalone session {rep + 1}/{plan.standalone_repetitions}",
                partial(run_session, plan, work, rep, results),
            )
        if "W5" in only:
            _guarded(results, "W5 worker cost", lambda: _worker_cost(plan, work, results))
        if "W6" in only:
            _scheduler_scale(plan, work, results)
        if "W7" in only:
            _guarded(results, "W7 task logs", lambda: _task_logs(plan, work, results))
        if "W8" in only:
            _guarded(results, "W8 repository sync", partial(repo_sync.run, plan, work, results))
        if "W9" in only:
            _guarded(results, "W9 Kubernetes executor", partial(kube.run, plan, work, results))
            if plan.kube_restart_pods:
                restart = partial(kube_restart.run, plan, work, results)
                _guarded(results, "W9 schedulers restarted", restart)
        if "W10" in only:
            _guarded(results, "W10 web UI", partial(web_ui.run, plan, work, results))
    return results


def _measured(only: frozenset[str]) -> frozenset[str]:
    return only | frozenset(SESSION) if only & set(SESSION) else only


def _workloads(text: str) -> frozenset[str]:
    names = frozenset(name.strip().upper() for name in text.split(",") if name.strip())
    if not names or names - set(WORKLOADS):
        raise argparse.ArgumentTypeError(f"expected workloads among {', '.join(WORKLOADS)}")
    return names


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the reduced suite (< 1 minute)")
    parser.add_argument(
        "--only",
        type=_workloads,
        default=frozenset(WORKLOADS),
        help="comma-separated workloads to run (W0-W4 run together), e.g. W7",
    )
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    parser.add_argument("--json", type=Path, help="JSON results file")
    return parser.parse_args(argv)


def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """Where the table and the JSON go: the full suite's replace docs/benchmarks.md; a quick
    or partial run's go under bench/results/, so they never replace the committed full run."""
    name = "quick" if args.quick else "latest"
    if args.only != set(WORKLOADS):
        name += "-" + "-".join(sorted(args.only))
    default_md = (
        REPO / "docs/benchmarks.md" if name == "latest" else REPO / f"bench/results/{name}.md"
    )
    return args.out or default_md, args.json or REPO / f"bench/results/{name}.json"


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl+C, so the `finally` blocks stop what the bench started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    _stop_on_sigterm()
    plan = QUICK if args.quick else FULL
    out, json_path = _outputs(args)
    started, load_before = time.monotonic(), environment.load_average()
    results = run(plan, args.only)
    data: dict[str, Any] = {
        "environment": environment.describe(load_before),
        "plan": asdict(plan),
        "workloads": sorted(_measured(args.only)),
        "figures": [f for f in results.summaries() if f["workload"] in _measured(args.only)],
        "notes": results.notes,
        "errors": results.errors,
        "duration_s": round(time.monotonic() - started, 1),
    }
    report.write_json(json_path, data)
    report.write_markdown(out, data)
    _say(f"done in {data['duration_s']} s: {out} and {json_path}")
    for error in results.errors:
        _say(f"error: {error}")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
