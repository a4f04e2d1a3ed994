"""What parsing one commit did, from the repository's DAGs and import errors before and after
it (UI.md A.2.12 "recent commits with their parse outcome", A.2.11 "resolved in <sha>"). Pure:
records in, a `CommitParse` out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from brisa.core.records import DagRecord, ImportErrorRecord
from brisa.store.commitparses import CommitParse

MESSAGE_CHARS = 300  # of an error's message kept in the outcome (the full one is the error's)


def structures(dags: Iterable[DagRecord], repo: str) -> dict[str, str]:
    """The active DAGs of `repo`, each with its structure hash."""
    return {d.dag_id: d.structure_hash for d in dags if d.repo == repo and d.is_active}


def failing(errors: Iterable[ImportErrorRecord], repo: str) -> dict[str, ImportErrorRecord]:
    return {e.filename: e for e in errors if e.repo == repo}


def outcome(
    *,
    repo: str,
    team: str,
    code_version: str,
    parsed_at: datetime,
    files_parsed: int,
    before: dict[str, str],
    after: dict[str, str],
    errors_before: dict[str, ImportErrorRecord],
    errors_after: dict[str, ImportErrorRecord],
) -> CommitParse:
    """The commit's outcome: DAGs that appeared, whose structure changed, that went; files
    failing after it (with line and message) and files whose error it made go away."""
    return CommitParse(
        repo=repo,
        code_version=code_version,
        team=team,
        parsed_at=parsed_at,
        files_parsed=files_parsed,
        added=sorted(set(after) - set(before)),
        changed=sorted(d for d in set(after) & set(before) if after[d] != before[d]),
        removed=sorted(set(before) - set(after)),
        errors=[
            {"file": f, "lineno": e.lineno, "message": e.message[:MESSAGE_CHARS]}
            for f, e in sorted(errors_after.items())
        ],
        resolved=sorted(set(errors_before) - set(errors_after)),
    )
