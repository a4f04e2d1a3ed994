"""The DAG catalog: published DAG versions, which DAGs are active or paused, import errors."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from brisa.core.records import DagRecord, ImportErrorRecord
from brisa.core.spec import DagSpec, structure_version
from brisa.errors import Conflict, NotFound
from brisa.store import changes, reading
from brisa.store.engine import WRITE
from brisa.store.tables import dag_tags, dag_versions, dags, import_errors

# Without the spec: it is taken from the cache of decoded specs (`specs_of`), so a listing
# moves each version's JSON over the wire once per process, not on every call.
_DAG_COLUMNS: list[Any] = [dags, dag_versions.c.structure_hash]


class SpecCache:
    """Specs decoded once per version id. Version rows are never updated in place, so an
    entry cannot go stale; the oldest entries go when the cache is full."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._specs: dict[int, DagSpec] = {}
        self._lock = threading.Lock()

    def get(self, version_id: int, data: Mapping[str, Any]) -> DagSpec:
        """The spec of `version_id`, decoded from its stored JSON `data` if not known yet."""
        spec = self._specs.get(version_id)
        if spec is None:
            spec = DagSpec.from_json(data)
            with self._lock:
                self._specs[version_id] = spec
                while len(self._specs) > self.size:
                    del self._specs[next(iter(self._specs))]
        return spec

    def known(self, version_id: int) -> DagSpec | None:
        return self._specs.get(version_id)


def _dag_record(row: Any, spec: DagSpec) -> DagRecord:
    return DagRecord(
        team=row.team,
        dag_id=row.dag_id,
        fileloc=row.fileloc,
        version_id=row.version_id,
        is_active=row.is_active,
        is_paused=row.is_paused,
        last_parsed_at=row.last_parsed_at,
        spec=spec,
        code_version=row.code_version,
        structure_hash=row.structure_hash,
        repo=row.repo,
    )


def stamp_columns() -> tuple[sa.Column[Any], ...]:
    """The columns of `dags` that what `list_dags` answers depends on."""
    d = dags.c
    return (d.team, d.dag_id, d.version_id, d.is_active, d.is_paused, d.repo,
            d.code_version, d.fileloc)  # fmt: skip


class CatalogStore:
    engine: sa.Engine
    reader: sa.Engine  # reads without a transaction of their own (engine.reader)
    specs: SpecCache

    @property
    def _writer(self) -> sa.Engine:
        return self.engine.execution_options(**WRITE)

    def publish_dag(
        self,
        team: str,
        spec: DagSpec,
        *,
        fileloc: str,
        code_version: str,
        now: datetime,
        repo: str = "dags",
    ) -> int:
        """Store a parsed DAG from `repo` at commit `code_version`; returns its version id.

        Versions are never updated in place: one row per distinct structure, shared by every
        commit that has it. Raises Conflict when another active file of the team (in any of
        its repositories) already defines this DAG id.
        """
        data = spec.to_json()
        dag_id, digest = spec.dag_id, structure_version(data)
        with self._writer.begin() as conn:
            existing = conn.execute(
                sa.select(
                    dags.c.fileloc,
                    dags.c.repo,
                    dags.c.is_active,
                    dags.c.version_id,
                    dags.c.code_version,
                ).where(dags.c.team == team, dags.c.dag_id == dag_id)
            ).first()
            if (
                existing
                and existing.is_active
                and (existing.repo, existing.fileloc)
                != (
                    repo,
                    fileloc,
                )
            ):
                raise Conflict(
                    f"DAG id {dag_id!r} is already defined in {existing.fileloc} of repository "
                    f"{existing.repo!r}; DAG ids must be unique within a team"
                )
            version_id = self._version_id(
                conn,
                (team, dag_id),
                data,
                digest,
                code_version,
                now,
                tags=spec.tags,
                owner=spec.owner,
            )
            values = {
                "fileloc": fileloc,
                "version_id": version_id,
                "is_active": True,
                "last_parsed_at": now,
                "repo": repo,
                "code_version": code_version,
            }
            if existing:
                conn.execute(
                    dags.update()
                    .where(dags.c.team == team, dags.c.dag_id == dag_id)
                    .values(**values)
                )
            else:
                conn.execute(
                    dags.insert().values(team=team, dag_id=dag_id, is_paused=False, **values)
                )
            shown = (True, version_id, code_version)
            if not existing or not existing.is_active:
                changes.record(conn, changes.new_dag_topics(team, dag_id))
            elif (existing.is_active, existing.version_id, existing.code_version) != shown:
                changes.record(conn, [f"dag:{team}/{dag_id}"])
        return version_id

    @staticmethod
    def _version_id(
        conn: sa.Connection,
        dag: tuple[str, str],
        data: dict[str, Any],
        digest: str,
        code_version: str,
        now: datetime,
        *,
        tags: Iterable[str] = (),
        owner: str | None = None,
    ) -> int:
        """The version row of this structure (the first commit that had it), made if new,
        with its `tags` as rows and its `owner`. `data` is the spec's JSON form, stored as it is."""
        team, dag_id = dag
        version_id = conn.execute(
            sa.select(dag_versions.c.id)
            .where(
                dag_versions.c.team == team,
                dag_versions.c.dag_id == dag_id,
                dag_versions.c.structure_hash == digest,
            )
            .order_by(dag_versions.c.id)
            .limit(1)
        ).scalar()
        if version_id is None:
            version_id = conn.execute(
                dag_versions.insert().values(
                    team=team,
                    dag_id=dag_id,
                    structure_hash=digest,
                    code_version=code_version,
                    spec=data,
                    created_at=now,
                    owner=owner,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            rows = [{"version_id": version_id, "tag": t} for t in sorted(set(tags))]
            if rows:
                conn.execute(dag_tags.insert(), rows)
        return int(version_id)

    def advance_code_version(
        self, repo: str, code_version: str, *, keep_files: Iterable[str] = ()
    ) -> int:
        """Every active DAG (and import error) of `repo` now comes from commit `code_version`:
        files unchanged by a commit are not parsed again, but their DAGs move to it. DAGs of
        `keep_files` (which fail to import in that commit) stay on their last good commit.
        Returns how many DAGs moved."""
        with self._writer.begin() as conn:
            moved = conn.execute(
                dags.update()
                .where(dags.c.repo == repo, dags.c.is_active.is_(True))
                .where(dags.c.code_version != code_version)
                .where(dags.c.fileloc.not_in(list(keep_files)))
                .values(code_version=code_version)
            ).rowcount
            conn.execute(
                import_errors.update()
                .where(import_errors.c.repo == repo)
                .values(code_version=code_version)
            )
            if moved:
                changes.record(conn, [f"repo:{repo}"])
        return int(moved)

    def retire_dags(
        self,
        team: str,
        *,
        repo: str = "dags",
        fileloc: str | None = None,
        keep: Iterable[str] = (),
        present_files: Iterable[str] | None = None,
    ) -> None:
        """Mark DAGs of `repo` inactive: those of `fileloc` not in `keep`, or of files not
        present (whose import errors go too)."""
        query = dags.update().where(
            dags.c.team == team, dags.c.repo == repo, dags.c.is_active.is_(True)
        )
        if fileloc is not None:
            query = query.where(dags.c.fileloc == fileloc, dags.c.dag_id.not_in(list(keep)))
        if present_files is not None:
            files = list(present_files)
            query = query.where(dags.c.fileloc.not_in(files))
        with self._writer.begin() as conn:
            retired = conn.execute(query.values(is_active=False).returning(dags.c.dag_id)).all()
            changes.record(conn, [f"dag:{team}/{row.dag_id}" for row in retired])
            if present_files is not None:
                conn.execute(
                    import_errors.delete().where(
                        import_errors.c.team == team,
                        import_errors.c.repo == repo,
                        import_errors.c.filename.not_in(files),
                    )
                )

    def record_import_error(
        self,
        team: str,
        filename: str,
        *,
        lineno: int | None,
        message: str,
        traceback: str,
        now: datetime,
        repo: str = "dags",
        code_version: str = "",
    ) -> None:
        with self._writer.begin() as conn:
            known = conn.execute(
                sa.select(
                    import_errors.c.message,
                    import_errors.c.first_seen_at,
                    import_errors.c.created_at,
                ).where(
                    import_errors.c.team == team,
                    import_errors.c.repo == repo,
                    import_errors.c.filename == filename,
                )
            ).first()
            if known is None or known.message != message:
                changes.record(conn, ["import-errors"])
            # Still failing: the file's first failure stays, whatever the message is now.
            first_seen = now if known is None else (known.first_seen_at or known.created_at)
            conn.execute(self._import_error_delete(team, repo, filename))
            conn.execute(
                import_errors.insert().values(
                    team=team,
                    repo=repo,
                    filename=filename,
                    code_version=code_version,
                    lineno=lineno,
                    message=message,
                    traceback=traceback,
                    created_at=now,
                    first_seen_at=first_seen,
                )
            )

    def clear_import_error(self, team: str, filename: str, *, repo: str = "dags") -> None:
        with self._writer.begin() as conn:
            if conn.execute(self._import_error_delete(team, repo, filename)).rowcount:
                changes.record(conn, ["import-errors"])

    @staticmethod
    def _import_error_delete(team: str, repo: str, filename: str) -> Any:
        return import_errors.delete().where(
            import_errors.c.team == team,
            import_errors.c.repo == repo,
            import_errors.c.filename == filename,
        )

    def list_import_errors(self, team: str | None = None) -> list[ImportErrorRecord]:
        query = sa.select(import_errors).order_by(
            import_errors.c.team, import_errors.c.repo, import_errors.c.filename
        )
        if team is not None:
            query = query.where(import_errors.c.team == team)
        with self.engine.connect() as conn:
            return [ImportErrorRecord(**row._mapping) for row in conn.execute(query)]

    def list_dags(
        self, team: str | None = None, *, include_inactive: bool = False, dag_id: str | None = None
    ) -> list[DagRecord]:
        query = (
            sa.select(*_DAG_COLUMNS)
            .join(dag_versions, dag_versions.c.id == dags.c.version_id)
            .order_by(dags.c.team, dags.c.dag_id)
        )
        if team is not None:
            query = query.where(dags.c.team == team)
        if dag_id is not None:
            query = query.where(dags.c.dag_id == dag_id)
        if not include_inactive:
            query = query.where(dags.c.is_active.is_(True))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        specs = self.specs_of(row.version_id for row in rows)
        return [_dag_record(row, specs[row.version_id]) for row in rows if row.version_id in specs]

    def catalog_stamp(self) -> list[tuple[object, ...]]:
        """What `list_dags` answers depends on, in a few small columns per DAG: equal stamps,
        equal listings (the scheduler lists the DAGs again only when it changes)."""
        d = dags.c
        columns = stamp_columns()
        if self.engine.dialect.name == "postgresql":
            # Summed up by the server: two values instead of a row per DAG on every pass.
            row = sa.cast(sa.func.row(*columns), sa.Text)  # a NULL differs from ''
            order: Any = postgresql.aggregate_order_by(
                sa.literal_column("E'\\n'"), d.team, d.dag_id
            )
            query = sa.select(sa.func.count(), sa.func.md5(sa.func.string_agg(row, order)))
        else:
            query = sa.select(*columns).order_by(d.team, d.dag_id)
        with self.reader.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def get_dag(self, team: str, dag_id: str) -> DagRecord:
        found = self.list_dags(team, dag_id=dag_id)
        if not found:
            raise NotFound(f"no DAG {team}/{dag_id}; `brisa dags list` shows the DAGs there are")
        return found[0]

    def set_paused(self, team: str, dag_id: str, paused: bool) -> DagRecord:
        with self._writer.begin() as conn:
            updated = conn.execute(
                dags.update()
                .where(dags.c.team == team, dags.c.dag_id == dag_id, dags.c.is_active.is_(True))
                .values(is_paused=paused)
            ).rowcount
            changes.record(conn, [f"dag:{team}/{dag_id}"] if updated else [])
        if not updated:
            raise NotFound(f"no DAG {team}/{dag_id}; `brisa dags list` shows the DAGs there are")
        return self.get_dag(team, dag_id)

    def get_specs(self, version_ids: Iterable[int]) -> dict[int, tuple[DagSpec, str]]:
        """Specs and code versions by version id (immutable: safe to cache forever)."""
        ids = list(set(version_ids))
        if not ids:
            return {}
        query = sa.select(dag_versions.c.id, dag_versions.c.spec, dag_versions.c.code_version)
        with reading.connection(self.reader) as conn:
            rows = conn.execute(query.where(dag_versions.c.id.in_(ids)))
            return {row.id: (self.specs.get(row.id, row.spec), row.code_version) for row in rows}

    def specs_of(self, version_ids: Iterable[int]) -> dict[int, DagSpec]:
        """Specs by version id, from the cache, reading only those it lacks (one statement at
        most, none once they are known: versions are immutable)."""
        ids = set(version_ids)
        found = {v: spec for v in ids if (spec := self.specs.known(v)) is not None}
        missing = sorted(ids - set(found))
        if missing:
            query = sa.select(dag_versions.c.id, dag_versions.c.spec)
            with self.engine.connect() as conn:
                for row in conn.execute(query.where(dag_versions.c.id.in_(missing))):
                    found[row.id] = self.specs.get(row.id, row.spec)
        return found

    def version_spec(self, version_id: int) -> DagSpec:
        """The spec of one version, read from the database only the first time."""
        known = self.specs.known(version_id)
        if known is not None:
            return known
        query = sa.select(dag_versions.c.spec).where(dag_versions.c.id == version_id)
        with self.engine.connect() as conn:
            data = conn.execute(query).scalar()
        if data is None:
            raise NotFound(f"no DAG version {version_id}")
        return self.specs.get(version_id, data)

    def version_at(self, team: str, dag_id: str, code_version: str) -> tuple[int, str]:
        """The newest version of a DAG published from commit `code_version` (the whole SHA,
        or a prefix of 7 characters or more), with its structure hash."""
        column = dag_versions.c.code_version
        match = column == code_version
        if len(code_version) >= 7:
            match = match | column.startswith(code_version, autoescape=True)
        query = (
            sa.select(dag_versions.c.id, dag_versions.c.structure_hash)
            .where(dag_versions.c.team == team, dag_versions.c.dag_id == dag_id, match)
            .order_by(dag_versions.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or not code_version:
            raise NotFound(
                f"structure for commit {code_version!r} of {team}/{dag_id} is not stored"
            )
        return row.id, row.structure_hash
