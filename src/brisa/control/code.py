"""The code of a DAG at a commit, for people: the whole snapshot as a file tree, one file's
text, and the comparison of two commits (a unified diff of the DAG's files plus what changed
in its structure). Read from where the syncer keeps it: the snapshot folder on this machine,
else the snapshot's tarball in the object store. A plain folder source has no commits: its
current content is its only snapshot.

A commit whose snapshot is gone answers NotFound("snapshot of <sha> no longer stored ...").
"""

from __future__ import annotations

import difflib
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from brisa.control.queries import Queries, Scope, find_source
from brisa.control.specdiff import structure_changes
from brisa.core.spec import DagSpec
from brisa.errors import InvalidInput, NotFound
from brisa.objectstore import ObjectStore
from brisa.repos.config import RepoSettings
from brisa.repos.layout import RepoLayout, is_sha, tarball_key
from brisa.store import Store

MAX_TEXT = 1024 * 1024  # bytes of a file shown as text; larger files: download only
MAX_FILES = 5000  # entries listed of one snapshot
RUNS_SEARCHED = 500
UNPACKED = (
    4  # snapshot tarballs kept unpacked in memory  # runs looked at for the DAG version of a commit
)


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the snapshot's root, `/`-separated
    size: int
    text: str | None  # None: binary or larger than MAX_TEXT (download only)
    data: bytes | None = None  # the bytes, for a download


@dataclass(frozen=True)
class Snapshot:
    repo: str
    sha: str  # '' for a plain folder
    subdir: str
    dag_file: str  # the DAG's file, relative to the snapshot's root
    files: list[str]  # every file, sorted
    source: str  # "snapshot", "tarball" or "folder"


@dataclass(frozen=True)
class Comparison:
    old: str
    new: str
    diff: list[str]  # unified diff lines of the DAG's files
    changes: list[str] | None  # structural changes; None when a version is unknown
    files: list[str]  # the DAG's files that differ


def _is_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _clean_path(path: str) -> str:
    parts = PurePosixPath(path).parts
    unsafe = any(ord(c) < 32 for c in path) or "\\" in path or len(path) > 1000
    if not path or unsafe or path.startswith("/") or ".." in parts:
        raise InvalidInput(f"{path!r} is not a path inside the snapshot")
    return str(PurePosixPath(*parts))


class _Tree:
    """The files of one snapshot: a folder, or a tarball held in memory."""

    def __init__(self, folder: Path | None = None, tar: bytes | None = None) -> None:
        self._folder = folder
        self._members: dict[str, bytes] = {}
        if tar is not None:
            with tarfile.open(fileobj=io.BytesIO(tar), mode="r:gz") as archive:
                for member in archive.getmembers()[: MAX_FILES * 2]:
                    handle = archive.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        self._members[_clean_path(member.name.removeprefix("./"))] = handle.read()

    def files(self) -> list[str]:
        if self._folder is None:
            return sorted(self._members)[:MAX_FILES]
        found = []
        for path in sorted(self._folder.rglob("*")):
            rel = path.relative_to(self._folder)
            if path.is_file() and not any(p.startswith(".") for p in rel.parts):
                found.append(rel.as_posix())
                if len(found) >= MAX_FILES:
                    break
        return found

    def read(self, path: str) -> bytes:
        if self._folder is None:
            if path not in self._members:
                raise NotFound(f"no file {path} in this snapshot")
            return self._members[path]
        target = self._folder / path
        try:
            if target.is_symlink() or not target.is_file():
                raise NotFound(f"no file {path} in this snapshot")
            return target.read_bytes()
        except OSError as exc:  # a name too long for the file system, ...
            raise NotFound(f"no file {path} in this snapshot ({exc.strerror})") from None


class CodeSnapshots:
    """The reads behind the Code page and its REST counterpart."""

    def __init__(
        self,
        queries: Queries,
        store: Store,
        objects: ObjectStore,
        *,
        sources: Sequence[RepoSettings],
        repos_root: Path,
    ) -> None:
        self._queries = queries
        self._store = store
        self._objects = objects
        self._sources = tuple(sources)
        self._root = repos_root
        self._unpacked: dict[str, _Tree] = {}  # tarball key -> tree, least recently used first

    def _tree(self, scope: Scope, team: str, dag_id: str, commit: str) -> tuple[Snapshot, _Tree]:
        dag = self._queries.dag(scope, team, dag_id).record
        source = find_source(self._sources, scope, dag.repo)
        if source.path:
            tree = _Tree(folder=Path(source.path))
            return self._snapshot(dag.repo, "", source, dag.fileloc, tree, "folder"), tree
        sha = commit or dag.code_version
        if not is_sha(sha):
            raise InvalidInput(f"{commit!r} is not a full 40-character commit SHA")
        folder = RepoLayout.of(self._root, source.name).snapshots / sha
        if folder.is_dir():
            tree = _Tree(folder=folder)
            return self._snapshot(source.name, sha, source, dag.fileloc, tree, "snapshot"), tree
        tree = self._tarball(source.name, sha)
        return self._snapshot(source.name, sha, source, dag.fileloc, tree, "tarball"), tree

    def _tarball(self, repo: str, sha: str) -> _Tree:
        """The snapshot's tarball from the object store, unpacked in memory; the last few are
        kept (a commit's tree never changes) so that a page's requests fetch it once."""
        key = tarball_key(repo, sha)
        tree = self._unpacked.pop(key, None)
        if tree is None:
            try:
                tree = _Tree(tar=self._objects.get(key))
            except NotFound:
                raise NotFound(
                    f"snapshot of {sha} no longer stored (repository {repo}); the syncer "
                    "keeps the snapshots of recent commits and of runs still in use"
                ) from None
        self._unpacked[key] = tree
        while len(self._unpacked) > UNPACKED:
            self._unpacked.pop(next(iter(self._unpacked)))
        return tree

    @staticmethod
    def _snapshot(
        repo: str, sha: str, source: RepoSettings, fileloc: str, tree: _Tree, kind: str
    ) -> Snapshot:
        subdir = "" if source.path else source.subdir.strip("/")
        dag_file = f"{subdir}/{fileloc}" if subdir else fileloc
        return Snapshot(repo, sha, subdir, dag_file, tree.files(), kind)

    def snapshot(self, scope: Scope, team: str, dag_id: str, commit: str = "") -> Snapshot:
        """The snapshot of `commit` (the DAG's current commit when empty) of the DAG's source."""
        return self._tree(scope, team, dag_id, commit)[0]

    def file(self, scope: Scope, team: str, dag_id: str, commit: str, path: str) -> SourceFile:
        """One file of the snapshot; its text unless binary or larger than MAX_TEXT."""
        _, tree = self._tree(scope, team, dag_id, commit)
        data = tree.read(_clean_path(path))
        text = data.decode() if len(data) <= MAX_TEXT and _is_text(data) else None
        return SourceFile(path, len(data), text, data)

    def compare(self, scope: Scope, team: str, dag_id: str, old: str, new: str) -> Comparison:
        """What changed in the DAG's folder (its source's subdir) from `old` to `new`."""
        before, old_tree = self._tree(scope, team, dag_id, old)
        after, new_tree = self._tree(scope, team, dag_id, new)
        scope_dir = after.subdir + "/" if after.subdir else ""
        paths = sorted({p for p in before.files + after.files if p.startswith(scope_dir)})
        diff: list[str] = []
        changed: list[str] = []
        for path in paths:
            lines = _file_diff(path, _text_of(old_tree, path), _text_of(new_tree, path), old, new)
            if lines:
                changed.append(path)
                diff += lines
        return Comparison(old, new, diff, self._structure(team, dag_id, old, new), changed)

    def _structure(self, team: str, dag_id: str, old: str, new: str) -> list[str] | None:
        specs = self._specs_at(team, dag_id, {old, new})
        if old not in specs or new not in specs:
            return None
        return structure_changes(specs[old], specs[new])

    def _specs_at(self, team: str, dag_id: str, shas: set[str]) -> dict[str, DagSpec]:
        """The DAG's spec as parsed from each commit of `shas` that a run or the DAG's
        current version used."""
        versions: dict[str, int] = {}
        dag = self._store.get_dag(team, dag_id)
        if dag.code_version in shas:
            versions[dag.code_version] = dag.version_id
        for run in self._store.list_runs(team, dag_id, limit=RUNS_SEARCHED):
            if run.code_version in shas:
                versions.setdefault(run.code_version, run.version_id)
        found = self._store.get_specs(versions.values())
        return {sha: found[v][0] for sha, v in versions.items() if v in found}


def _text_of(tree: _Tree, path: str) -> list[str]:
    try:
        data = tree.read(path)
    except NotFound:
        return []
    if len(data) > MAX_TEXT or not _is_text(data):
        return [f"(binary or large file, {len(data)} bytes)\n"]
    return data.decode().splitlines(keepends=True)


def _file_diff(path: str, old: list[str], new: list[str], sha1: str, sha2: str) -> list[str]:
    lines = difflib.unified_diff(old, new, f"a/{path} ({sha1[:8]})", f"b/{path} ({sha2[:8]})")
    return [line.rstrip("\n") for line in lines]
