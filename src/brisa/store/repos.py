"""Repository sync status (written by the DAG processor, read by the API and CLI), sync
requests (written by the API, polled by the DAG processor), and the commits that unfinished
runs are pinned to (which the snapshot collector must keep)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from brisa.core.records import RepoStatusRecord
from brisa.core.states import FINISHED_RUN_STATES
from brisa.errors import NotFound
from brisa.store import changes
from brisa.store.engine import WRITE
from brisa.store.tables import dag_runs, dags, repos


class RepoStore:
    engine: sa.Engine

    def _upsert_repo(
        self, conn: sa.Connection, name: str, team: str, url: str, subdir: str
    ) -> None:
        values = {"team": team, "url": url, "subdir": subdir}
        found = conn.execute(sa.select(repos.c.name).where(repos.c.name == name)).first()
        if found is None:
            conn.execute(repos.insert().values(name=name, consecutive_failures=0, **values))
        else:
            conn.execute(repos.update().where(repos.c.name == name).values(**values))

    def register_repo(self, name: str, *, team: str, url: str, subdir: str = "") -> None:
        """Make the repository known (before its first sync), with its current team, URL and
        the folder of its DAG files."""
        with self.engine.execution_options(**WRITE).begin() as conn:
            self._upsert_repo(conn, name, team, url, subdir)

    def record_sync(
        self,
        name: str,
        *,
        team: str,
        url: str,
        sha: str | None,
        published: bool,
        error: str | None,
        kind: str | None,
        now: datetime,
        subdir: str = "",
    ) -> None:
        """The outcome of one sync pass: success resets the failure count, a failure keeps
        the current commit (failures never unpublish) and counts up."""
        values: dict[str, Any] = {"last_sync_at": now, "current_sha": sha}
        if error is None:
            values |= {
                "last_success_at": now,
                "last_error": None,
                "error_kind": None,
                "consecutive_failures": 0,
            }
        else:
            values |= {
                "last_error": error,
                "error_kind": kind,
                "consecutive_failures": repos.c.consecutive_failures + 1,
            }
        if published:
            values["published_at"] = now
        with self.engine.execution_options(**WRITE).begin() as conn:
            self._upsert_repo(conn, name, team, url, subdir)
            conn.execute(repos.update().where(repos.c.name == name).values(**values))
            changes.record(conn, [f"repo:{name}"])

    def list_repos(self) -> list[RepoStatusRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(repos).order_by(repos.c.name))
            return [RepoStatusRecord(**row._mapping) for row in rows]

    def get_repo(self, name: str) -> RepoStatusRecord:
        found = [r for r in self.list_repos() if r.name == name]
        if not found:
            raise NotFound(f"no repository {name!r}; `brisa repos list` shows the configured ones")
        return found[0]

    def request_sync(self, name: str, now: datetime) -> None:
        """Ask the DAG processor (maybe another process) to sync `name` now."""
        with self.engine.execution_options(**WRITE).begin() as conn:
            updated = conn.execute(
                repos.update().where(repos.c.name == name).values(sync_requested_at=now)
            ).rowcount
            changes.record(conn, [f"repo:{name}"] if updated else [])
        if not updated:
            raise NotFound(f"no repository {name!r} is known to the DAG processor yet")

    def sync_requested_at(self, name: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(repos.c.sync_requested_at).where(repos.c.name == name)
            ).scalar()

    def pinned_code_versions(self, repo: str) -> set[str]:
        """Commits of `repo` that must stay available: those unfinished runs are pinned to,
        and those active DAGs come from (new runs will be pinned to them)."""
        runs = (
            sa.select(dag_runs.c.code_version)
            .distinct()
            .where(dag_runs.c.repo == repo)
            .where(dag_runs.c.state.not_in([s.value for s in FINISHED_RUN_STATES]))
        )
        active = (
            sa.select(dags.c.code_version)
            .distinct()
            .where(dags.c.repo == repo, dags.c.is_active.is_(True))
        )
        with self.engine.connect() as conn:
            found = [*conn.execute(runs).scalars(), *conn.execute(active).scalars()]
        return {sha for sha in found if sha}
