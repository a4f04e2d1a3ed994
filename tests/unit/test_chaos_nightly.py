"""The nightly chaos job's bookkeeping: H6's load unless overridden, the history, the streak."""

from __future__ import annotations

import json
from pathlib import Path

from brisa.testing.chaos import nightly
from brisa.testing.chaos.run import Result


def _result(violations: list[str], finished_after: float | None = 1.0) -> Result:
    return Result(
        seed=7,
        database="own cluster",
        schedulers=3,
        duration=1800.0,
        pool_slots=6,
        pool_peak=6,
        tasks=20010,
        states={"success": 20010},
        faults={"kill": 3, "stop": 2},
        violations=violations,
        violation_kinds={"double start": len(violations)} if violations else {},
        finished_after=finished_after,
    )


def test_the_run_has_h6s_load_unless_a_variable_says_otherwise() -> None:
    env = nightly.environment({"CHAOS_TASKS": "300", "HOME": "/root", "CHAOS_SEED": "5"})
    assert env == {
        "CHAOS_DURATION": "1800",
        "CHAOS_TASKS": "300",
        "CHAOS_GAP": "5-20",
        "CHAOS_POOL_SLOTS": "6",
        "CHAOS_SEED": "5",
    }


def test_the_streak_counts_the_newest_clean_runs_in_a_row() -> None:
    ok = nightly.entry_of(_result([]), commit="abc", started="2026-12-07T00:00:00+00:00")
    bad = nightly.entry_of(_result(["x"]), commit="abc", started="2026-12-08T00:00:00+00:00")
    late = nightly.entry_of(_result([], None), commit="abc", started="2026-12-09T00:00:00+00:00")
    assert nightly.streak([]) == 0
    assert nightly.streak([ok, ok, ok]) == 3
    assert nightly.streak([ok, bad, ok, ok]) == 2
    assert nightly.streak([ok, ok, late]) == 0
    assert ok["faults"] == 5 and ok["violations"] == 0 and bad["violations"] == 1


def test_a_cut_history_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    entry = nightly.entry_of(_result([]), commit="abc", started="2026-12-07T00:00:00+00:00")
    path.write_text(json.dumps(entry) + "\n" + '{"started": "2026-12-08T0')
    assert nightly.read_history(path) == [entry]
    assert nightly.read_history(tmp_path / "none.jsonl") == []
