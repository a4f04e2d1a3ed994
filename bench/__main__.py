"""The benchmark driver: `python -m bench [--quick] [--only W8] [--out F.md] [--json F.json]`.

Runs every workload (W0-W6, W8) the plan's number of times in a temporary folder, stops
everything it started, and writes the JSON results and the markdown table. The full suite
writes docs/benchmarks.md; the quick one writes under bench/results/ unless told otherwise, so
that a quick check never replaces the committed full run. `--only W8` runs one workload alone
and writes bench/results/{full,quick}-W8.{md,json}.
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

from bench import environment, repo_sync, report, scheduler_scale, worker_cost
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
        f"{parallelism} (`[executor] parallelism`); decisions = actions applied."
    )


# Workloads that can also run alone (`--only W8`), each given the plan, a work folder and the
# results to add to.
ALONE: dict[str, Callable[[Plan, Path, Results], None]] = {"W8": repo_sync.run}


def _run_alone(plan: Plan, workload: str) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="brisa-bench-") as tmp:
        work = partial(ALONE[workload], plan, Path(tmp), results)
        _guarded(results, f"{workload} {WORKLOADS[workload]}", work)
    return results


def run(plan: Plan, only: str | None = None) -> Results:
    if only:
        return _run_alone(plan, only)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="brisa-bench-") as tmp:
        work = Path(tmp)
        for rep in range(plan.standalone_repetitions):
            _guarded(
                results,
                f"W0-W4 standalone session {rep + 1}/{plan.standalone_repetitions}",
                partial(run_session, plan, work, rep, results),
            )
        _guarded(results, "W5 worker cost", lambda: _worker_cost(plan, work, results))
        _scheduler_scale(plan, work, results)
        _guarded(results, "W8 repository sync", partial(repo_sync.run, plan, work, results))
    return results


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the reduced suite (< 1 minute)")
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    parser.add_argument("--json", type=Path, help="JSON results file")
    parser.add_argument(
        "--only",
        choices=sorted(ALONE),
        help="run this workload alone (results under bench/results/)",
    )
    return parser.parse_args(argv)


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl+C, so the `finally` blocks stop what the bench started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    _stop_on_sigterm()
    plan = QUICK if args.quick else FULL
    out = args.out or (REPO / ("bench/results/quick.md" if args.quick else "docs/benchmarks.md"))
    json_path = args.json or REPO / f"bench/results/{'quick' if args.quick else 'latest'}.json"
    if args.only:  # one workload never replaces the committed full run
        name = f"bench/results/{plan.name}-{args.only}"
        out, json_path = args.out or REPO / f"{name}.md", args.json or REPO / f"{name}.json"
    started, load_before = time.monotonic(), environment.load_average()
    results = run(plan, args.only)
    data: dict[str, Any] = {
        "environment": environment.describe(load_before),
        "plan": asdict(plan),
        "figures": [f for f in results.summaries() if args.only in (None, f["workload"])],
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
