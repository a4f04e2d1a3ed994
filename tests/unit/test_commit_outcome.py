"""What parsing one commit did (dagprocessor/outcome.py): DAGs added, changed (structure),
removed; failing files; resolved ones. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from planner_builders import build_spec, dag_record

from brisa.core.records import ImportErrorRecord
from brisa.dagprocessor.outcome import failing, outcome, structures

NOW = datetime(2026, 3, 4, tzinfo=UTC)


def error(file: str, repo: str = "forge") -> ImportErrorRecord:
    return ImportErrorRecord("data", file, 3, "SyntaxError: " + "x" * 500, "", NOW, repo=repo)


def test_added_changed_removed_failing_and_resolved() -> None:
    dags = [
        replace(dag_record(build_spec(d)), repo=r, structure_hash=h, is_active=active)
        for d, r, h, active in [
            ("kept", "forge", "h1", True),
            ("reshaped", "forge", "h2", True),
            ("other_repo", "elsewhere", "h3", True),
            ("retired", "forge", "h4", False),
        ]
    ]
    before = structures(dags, "forge")
    assert before == {"kept": "h1", "reshaped": "h2"}
    after = {"kept": "h1", "reshaped": "h9", "new": "h5"}
    errors_before = failing(
        [error("old.py"), error("still.py"), error("x.py", "elsewhere")], "forge"
    )
    errors_after = failing([error("still.py"), error("fresh.py")], "forge")

    done = outcome(
        repo="forge",
        team="data",
        code_version="c" * 40,
        parsed_at=NOW,
        files_parsed=3,
        before={**before, "gone": "h6"},
        after=after,
        errors_before=errors_before,
        errors_after=errors_after,
    )
    assert (done.added, done.changed, done.removed) == (["new"], ["reshaped"], ["gone"])
    assert [e["file"] for e in done.errors] == ["fresh.py", "still.py"]
    assert done.errors[0]["lineno"] == 3 and len(done.errors[0]["message"]) == 300
    assert done.resolved == ["old.py"]
