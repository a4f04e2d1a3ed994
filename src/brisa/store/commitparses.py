"""The parse outcome of each commit of a git repository (`commit_parses`): recorded by the DAG
processor once per parsed commit, read newest first per repository (the repository page) and
across repositories since a time (the import-errors page's "resolved in <sha>")."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from brisa.store import changes
from brisa.store.engine import WRITE
from brisa.store.tables import commit_parses

c = commit_parses


@dataclass(frozen=True)
class CommitParse:
    """What parsing one commit did: DAGs added, changed (a new structure), removed; the files
    that failed (`errors`: file, lineno, message) and those whose import error it resolved."""

    repo: str
    code_version: str
    team: str
    parsed_at: datetime
    files_parsed: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


class CommitParseStore:
    engine: sa.Engine

    def record_commit_parse(self, outcome: CommitParse) -> None:
        """Store a commit's outcome (replacing an earlier parse of the same commit); notes
        `repo:<name>` and, when it resolved errors, `import-errors` for live pages."""
        values = dataclasses.asdict(outcome)
        with self.engine.execution_options(**WRITE).begin() as conn:
            conn.execute(
                c.delete().where(c.c.repo == outcome.repo, c.c.code_version == outcome.code_version)
            )
            conn.execute(c.insert().values(**values))
            topics = [f"repo:{outcome.repo}"] + (["import-errors"] if outcome.resolved else [])
            changes.record(conn, topics)

    def commit_parses(self, repo: str, *, limit: int = 20) -> list[CommitParse]:
        """The newest parsed commits of `repo`, newest first."""
        query = c.select().where(c.c.repo == repo).order_by(c.c.parsed_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [CommitParse(**row._mapping) for row in conn.execute(query)]

    def commit_parses_since(
        self, since: datetime, repos: Sequence[str] | None = None
    ) -> list[CommitParse]:
        """Every commit parsed at or after `since` (of `repos` when given), newest first."""
        query = c.select().where(c.c.parsed_at >= since)
        if repos is not None:
            query = query.where(c.c.repo.in_(sorted(set(repos))))
        with self.engine.connect() as conn:
            return [
                CommitParse(**r._mapping)
                for r in conn.execute(query.order_by(c.c.parsed_at.desc()))
            ]
