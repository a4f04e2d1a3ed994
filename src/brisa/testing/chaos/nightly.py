"""The nightly chaos job (PLATFORM.md H6): the chaos run at H6's size, its result kept in a
history, and the count of consecutive clean runs that H6's check is about.

`python -m brisa.testing.chaos.nightly` (what `make nightly` and `.ci/nightly` run) runs the
chaos suite `--runs` times one after the other (1 by default: a scheduler such as cron runs
it once a night) with H6's load — 3 schedulers, 20,000 tasks over 30 minutes, a fault every
5-20 s, the middle tasks in a pool of 6 slots — unless a `CHAOS_*` variable says otherwise.
Each run appends one line to `<history>/history.jsonl` (when, the commit, the seed, tasks,
faults, violations) and keeps its full result as `<history>/<stamp>.json`. The last line
printed says how many runs in a row ended with 0 violations and every task finished; the exit
status is 1 when the newest run did not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from brisa.testing.chaos.run import Config, Result, run

# PLATFORM.md H6's load and fault rate; a CHAOS_* variable in the environment wins.
H6 = {
    "CHAOS_DURATION": "1800",
    "CHAOS_TASKS": "20000",
    "CHAOS_GAP": "5-20",
    "CHAOS_POOL_SLOTS": "6",
}


def environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The chaos run's variables: H6's, overridden by those set in `environ`."""
    return {**H6, **{k: v for k, v in environ.items() if k.startswith("CHAOS_")}}


def clean(entry: Mapping[str, Any]) -> bool:
    """A run that H6 counts: no violation, every task finished within the bound."""
    return entry.get("violations") == 0 and entry.get("finished_after") is not None


def streak(entries: Iterable[Mapping[str, Any]]) -> int:
    """How many of the newest entries in a row are clean (entries oldest first)."""
    count = 0
    for entry in entries:
        count = count + 1 if clean(entry) else 0
    return count


def entry_of(result: Result, *, commit: str, started: str) -> dict[str, Any]:
    """The history line of one run."""
    return {
        "started": started,
        "commit": commit,
        "seed": result.seed,
        "database": result.database,
        "duration": result.duration,
        "tasks": result.tasks,
        "states": result.states,
        "faults": sum(result.faults.values()),
        "fault_kinds": result.faults,
        "violations": len(result.violations),
        "violation_kinds": result.violation_kinds,
        "pool_peak": result.pool_peak,
        "finished_after": result.finished_after,
    }


def read_history(path: Path) -> list[dict[str, Any]]:
    """The history's entries, oldest first; a line that is not JSON (a run cut while writing
    it) is skipped."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def run_once(history: Path, environ: Mapping[str, str], *, keep: bool) -> dict[str, Any]:
    """One chaos run with H6's load; its entry appended to the history (and with `keep`, the
    processes' logs, the witness file and the transitions in `<history>/<stamp>/`)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    result = run(Config.from_env(environment(environ)), history / stamp if keep else None)
    print(result.render(), flush=True)
    (history / f"{stamp}.json").write_text(json.dumps(asdict(result), indent=2))
    entry = entry_of(result, commit=_commit(), started=started.isoformat(timespec="seconds"))
    with (history / "history.jsonl").open("a") as out:
        out.write(json.dumps(entry) + "\n")
    return entry


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m brisa.testing.chaos.nightly")
    parser.add_argument(
        "--history", type=Path, default=Path(".chaos-history"), help="folder of the history"
    )
    parser.add_argument("--runs", type=int, default=1, help="chaos runs one after the other")
    parser.add_argument(
        "--keep", action="store_true", help="keep each run's logs and records in the history"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    args.history.mkdir(parents=True, exist_ok=True)
    env = os.environ if environ is None else environ
    entry: dict[str, Any] = {}
    for _ in range(args.runs):
        entry = run_once(args.history, env, keep=args.keep)
    entries = read_history(args.history / "history.jsonl")
    print(
        f"nightly chaos: {streak(entries)} consecutive clean run(s) of {len(entries)} in "
        f"{args.history / 'history.jsonl'} (H6 asks for 3)"
    )
    return 0 if clean(entry) else 1


if __name__ == "__main__":
    raise SystemExit(main())
