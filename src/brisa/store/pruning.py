"""Deleting old rows of the store's own records, one bounded batch per call: audit record
entries older than a time (`audit_log`), and parsed commits of a repository beyond its newest
few (`commit_parses`), never the repository's current commit nor the commit of one of its
DAGs. Each batch is one short transaction (on SQLite it holds the write lock only that long);
`brisa.pruning` calls them until a batch comes back short."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from brisa.store.engine import WRITE
from brisa.store.tables import audit_log, commit_parses, dags, repos

c = commit_parses


def _referenced(repo: str) -> sa.CompoundSelect[str]:
    """The commits of `repo` still in use: its current commit and its DAGs' commits."""
    current = sa.select(repos.c.current_sha).where(
        repos.c.name == repo, repos.c.current_sha.is_not(None)
    )
    return sa.union(current, sa.select(dags.c.code_version).where(dags.c.repo == repo))


class PruningStore:
    engine: sa.Engine

    def prune_audit(self, before: datetime, batch: int) -> int:
        """Delete the audit entries recorded before `before` among the `batch` oldest (by id:
        entries are appended in time order); how many went.

        The window is read first, outside the write transaction, by the primary key: a run
        with nothing to delete reads `batch` rows whatever the table's size, and the delete
        holds SQLite's write lock only for itself. An old entry behind a newer one (the clocks
        of several API processes apart) goes once the entries before it have."""
        window = sa.select(audit_log.c.id, audit_log.c.at).order_by(audit_log.c.id).limit(batch)
        with self.engine.connect() as conn:
            old = [key for key, at in conn.execute(window) if at < before]
        if not old:
            return 0
        doomed = audit_log.delete().where(audit_log.c.id <= max(old), audit_log.c.at < before)
        with self.engine.execution_options(**WRITE).begin() as conn:
            return int(conn.execute(doomed).rowcount)

    def commit_parse_counts(self) -> dict[str, int]:
        """How many parsed commits each repository has."""
        query = sa.select(c.c.repo, sa.func.count()).group_by(c.c.repo)
        with self.engine.connect() as conn:
            return {repo: int(n) for repo, n in conn.execute(query)}

    def prune_commit_parses(self, repo: str, keep: int, batch: int) -> int:
        """Delete at most `batch` parsed commits of `repo` older than its `keep` newest (the
        oldest first), except its current commit and its DAGs' commits; how many went.

        A commit parsed again meanwhile is newer than the boundary read here, so it stays."""
        if keep < 1:
            raise ValueError("keep at least the newest parsed commit of a repository")
        boundary = (
            sa.select(c.c.parsed_at)
            .where(c.c.repo == repo)
            .order_by(c.c.parsed_at.desc())
            .limit(1)
            .offset(keep - 1)
        )
        with self.engine.execution_options(**WRITE).begin() as conn:
            newest_kept = conn.execute(boundary).scalar()
            if newest_kept is None:
                return 0
            old = sa.and_(
                c.c.repo == repo,
                c.c.parsed_at < newest_kept,
                c.c.code_version.not_in(_referenced(repo)),
            )
            doomed = sa.select(c.c.code_version).where(old).order_by(c.c.parsed_at).limit(batch)
            deleted = conn.execute(c.delete().where(old, c.c.code_version.in_(doomed)))
            return int(deleted.rowcount)
