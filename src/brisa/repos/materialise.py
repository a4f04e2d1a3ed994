"""Put the code of a run's pinned commit on this machine for a worker, and hold on to it.

Every attempt of a run executes the commit its DAG was parsed from, even after new pushes or
a force-push. The worker looks for that commit, cheapest first:

1. a plain folder source (no commit): the folder itself;
2. the syncer's local snapshot `<repos root>/<repo>/snapshots/<sha>`;
3. the worker's own cache `<cache root>/<repo>/snapshots/<sha>`, filled earlier by 4 or 5;
4. the snapshot's tarball in the object store (`layout.tarball_key`), into the cache;
5. a shallow fetch of exactly that commit from the repository's URL, without credentials,
   into the cache.

The cache has the same layout as the syncer's repos root (snapshots, leases) and its trees
are made the same way (`repos.snapshots`: unpacked safely, read-only), so the syncer's
collector can prune it. A tree is unpacked into a `.tmp-` folder beside its final place and
renamed there in one step: a snapshot folder that exists is complete. Two workers racing for
the same commit both unpack; one rename wins and the other uses the winner's tree.

Snapshots are held with a shared lease (taken before checking the folder is still there, as
the collector removes only unleased snapshots) until `Materialised.release()` or the process
exits. Nothing here reads through a repository's `current` link: it may move under a reader.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from brisa.core.records import CodeRef
from brisa.errors import BrisaError, InvalidInput, NotFound
from brisa.repos.layout import Lease, RepoLayout, is_sha, tarball_key

if TYPE_CHECKING:
    from brisa.objectstore import ObjectInfo, ObjectStore

FOLDER, SNAPSHOT, CACHE, TARBALL, FETCH = "folder", "snapshot", "cache", "tarball", "fetch"


class CodeUnavailable(NotFound):
    """The code of a pinned commit could not be found nor fetched; the message names the
    repository, the commit, every place that was tried and why each failed."""


class Materialised:
    """The code of one commit (or folder) on this machine, held until `release()`.

    `root` is the DAG root (the tree, then the repository's subdir) to import DAG files from;
    `tree` the whole commit; `source` where it came from: folder, snapshot, cache (an earlier
    tarball or fetch on this machine), tarball or fetch.
    """

    def __init__(self, root: Path, tree: Path, source: str, lease: Lease | None = None) -> None:
        self.root = root
        self.tree = tree
        self.source = source
        self._lease = lease

    def release(self) -> None:
        """Let the collector remove the snapshot again (no-op for a folder)."""
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def __enter__(self) -> Materialised:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Miss(Exception):
    """One place did not have the commit; the text says why."""


def materialise(
    code: CodeRef,
    *,
    repos_root: Path | None,
    cache_root: Path | None,
    objects: ObjectStore | None,
    timeout: float,
) -> Materialised:
    """The code described by a work item's `code` (a commit, or a plain folder), leased.

    `repos_root` is where the syncer keeps snapshots (None or missing on another machine),
    `cache_root` a folder this process may write to, `objects` the store holding snapshot
    tarballs, `timeout` the limit of each git command. Raises CodeUnavailable when nothing
    worked, and InvalidInput for a malformed `code`.
    """
    repo, sha, subdir = code.repo, code.sha, code.subdir
    _check(repo, sha, subdir)
    if not sha:
        return _folder(repo, code.path, subdir)
    tried: list[str] = []
    found = _local_snapshot(repos_root, repo, sha, tried)
    if found is None:
        found = _cached(cache_root, code, objects, timeout, tried)
    if found is None:
        raise CodeUnavailable(f"commit {sha} of repo {repo} is not available: {'; '.join(tried)}")
    tree, source, lease = found
    return Materialised(tree / subdir if subdir else tree, tree, source, lease)


def _check(repo: str, sha: str, subdir: str) -> None:
    if not repo or "/" in repo or repo in (".", ".."):
        raise InvalidInput(f"work item code: {repo!r} is not a repository name")
    if sha and not is_sha(sha):
        raise InvalidInput(f"work item code: {sha!r} is not a full 40-character commit SHA")
    if Path(subdir).is_absolute() or ".." in Path(subdir).parts:
        raise InvalidInput(f"work item code: subdir {subdir!r} must be a relative path inside it")


def _folder(repo: str, path: str, subdir: str) -> Materialised:
    if not path:
        raise CodeUnavailable(f"repo {repo} names neither a commit nor a folder")
    tree = Path(path)
    root = tree / subdir if subdir else tree
    if not root.is_dir():
        raise CodeUnavailable(f"folder {root} of repo {repo} does not exist on this machine")
    return Materialised(root, tree, FOLDER)


_Found = tuple[Path, str, Lease]  # the tree, its source, the lease held on it


def _local_snapshot(
    repos_root: Path | None, repo: str, sha: str, tried: list[str]
) -> _Found | None:
    """The syncer's snapshot of `sha`, leased, if this machine has it."""
    if repos_root is None:
        tried.append("no local repos root (BRISA_REPOS_ROOT is not set)")
        return None
    layout = RepoLayout.of(repos_root, repo)
    snapshot = layout.snapshot_dir(sha)
    if not snapshot.is_dir():
        tried.append(f"no local snapshot {snapshot}")
        return None
    held = _leased(layout, sha, tried)
    if held is None:
        return None
    return (snapshot, SNAPSHOT, held)


def _leased(layout: RepoLayout, sha: str, tried: list[str]) -> Lease | None:
    """A lease on `sha`, taken before checking that its folder is (still) there."""
    snapshot = layout.snapshot_dir(sha)
    try:
        lease = layout.lease(sha)
    except OSError as exc:  # e.g. a read-only mount: unleased, it could vanish mid-task
        tried.append(f"cannot lease {snapshot} ({exc})")
        return None
    if snapshot.is_dir():
        return lease
    lease.release()
    tried.append(f"snapshot {snapshot} was removed before it could be leased")
    return None


def _cached(
    cache_root: Path | None,
    code: CodeRef,
    objects: ObjectStore | None,
    timeout: float,
    tried: list[str],
) -> _Found | None:
    """The commit in this worker's cache, downloaded there first when missing; leased."""
    if cache_root is None:
        tried.append("no code cache to download it into (BRISA_CODE_CACHE is not set)")
        return None
    layout, sha = RepoLayout.of(cache_root, code.repo), code.sha
    target = layout.snapshot_dir(sha)
    try:
        lease = layout.lease(sha)
    except OSError as exc:
        tried.append(f"code cache {layout.root} is not usable ({exc})")
        return None
    try:
        if target.is_dir():
            return (target, CACHE, lease)
        fills: list[tuple[str, Callable[[Path], str]]] = [
            (TARBALL, lambda scratch: _from_tarball(objects, layout.name, sha, scratch)),
            (FETCH, lambda scratch: _from_git(code.url, sha, scratch, timeout)),
        ]
        for source, fill in fills:
            if _fill(layout, sha, fill, tried):
                return (target, source, lease)
    except BaseException:
        lease.release()
        raise
    lease.release()
    return None


def _fill(layout: RepoLayout, sha: str, fill: Callable[[Path], str], tried: list[str]) -> bool:
    """Get the commit's tar with `fill` (into a scratch folder), unpack it beside the
    snapshots the way the syncer does (read-only), then rename it into place."""
    import tempfile  # as snapshots: not in the fork server's memory, which workers inherit

    from brisa.repos import snapshots  # only when something must be downloaded

    try:
        layout.snapshots.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=layout.snapshots, prefix=snapshots.TMP_PREFIX))
    except OSError as exc:
        tried.append(f"code cache {layout.root} is not writable ({exc})")
        return False
    # A direct child of snapshots/: renaming a read-only folder into another parent would
    # need write access to it (its ".." entry changes).
    tree = snapshots.temp_path(layout, sha)
    try:
        what = fill(scratch)
        _unpack(scratch / "tree.tar", tree, what)
        _install(tree, layout.snapshot_dir(sha))
        return True
    except _Miss as exc:
        tried.append(str(exc))
        return False
    except OSError as exc:  # the cache's disk, not the source: say so, try the next one
        tried.append(f"writing into the code cache {layout.root} failed ({exc})")
        return False
    finally:
        snapshots.remove_tree(scratch)
        snapshots.remove_tree(tree)  # still there only if not installed


def _unpack(tar: Path, tree: Path, what: str) -> None:
    import tarfile

    from brisa.repos import snapshots

    try:
        # Safe: entries that would land outside the tree are left out (and logged).
        snapshots.unpack(tar, tree)
    except (tarfile.TarError, EOFError) as exc:
        raise _Miss(f"{what} could not be extracted ({exc})") from None
    snapshots.make_read_only(tree)


def _install(tree: Path, target: Path) -> None:
    try:
        os.rename(tree, target)
    except OSError as exc:
        if not target.is_dir():
            raise _Miss(f"cannot move the tree into {target} ({exc})") from None
        # Another worker installed the same commit first: its tree is identical to ours.


def _from_tarball(objects: ObjectStore | None, repo: str, sha: str, scratch: Path) -> str:
    """Write the commit's tar, from its tarball in the object store, into `scratch`."""
    if objects is None:
        raise _Miss("no object store to look for its tarball in")
    key = tarball_key(repo, sha)
    where = f"tarball {objects.location.rstrip('/')}/{key}"
    try:
        data = objects.get(key)
    except NotFound:
        raise _Miss(f"no {where}") from None
    except BrisaError as exc:
        raise _Miss(f"{where} could not be read ({exc})") from None
    import gzip
    import zlib

    try:
        tar = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise _Miss(f"{where} could not be extracted ({exc})") from None
    (scratch / "tree.tar").write_bytes(tar)
    return where


def _from_git(url: str, sha: str, scratch: Path, timeout: float) -> str:
    """Write the commit's tar into `scratch`: a shallow fetch of exactly `sha` into a new
    repository, then `git archive`.

    No credentials: a repository that needs them must publish tarballs to the object store.
    """
    if not url:
        raise _Miss("no git URL to fetch it from")
    # Imported only when a fetch is needed: a worker that finds its code locally skips it.
    from brisa.repos.git import GitError, base_env, redact, run_git

    git_dir, env = scratch / "git", base_env()
    try:
        run_git(["init", "-q", "--bare", str(git_dir)], timeout=timeout, env=env)
        fetch = ["fetch", "-q", "--depth=1", "--no-tags", "--no-write-fetch-head", "--", url, sha]
        run_git(fetch, timeout=timeout, cwd=git_dir, env=env)
        with open(scratch / "tree.tar", "wb") as out:
            archive = ["archive", "--format=tar", sha]
            run_git(archive, timeout=timeout, cwd=git_dir, env=env, stdout=out.fileno())
    except GitError as exc:
        raise _Miss(f"fetch from {redact(url)} failed: {exc}{_hint(exc.kind)}") from None
    return f"the archive of {sha} fetched from {redact(url)}"


def _hint(kind: str) -> str:
    from brisa.repos.git import AUTH, NOT_FOUND

    if kind == NOT_FOUND:
        return " (the commit may have been force-pushed away and garbage-collected)"
    if kind == AUTH:
        return " (workers fetch without credentials; publish tarballs to the object store)"
    return ""


class LazyObjectStore:
    """An object store opened on first use, so that a worker that finds its code locally
    never loads the S3 client."""

    def __init__(self, location: str, options: Mapping[str, str]) -> None:
        self.location = location
        self._options = options
        self._store: ObjectStore | None = None

    def _opened(self) -> ObjectStore:
        if self._store is None:
            from brisa.objectstore import open_object_store

            self._store = open_object_store(self.location, self._options)
            self.location = self._store.location
        return self._store

    def put(self, key: str, data: bytes) -> None:
        self._opened().put(key, data)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return self._opened().get(key, start, end)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self._opened().list(prefix)

    def delete(self, keys: Iterable[str]) -> None:
        self._opened().delete(keys)
