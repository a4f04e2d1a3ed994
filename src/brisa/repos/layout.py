"""Where a repository's snapshots live on disk and in the object store, and how readers hold
on to one. Shared by the syncer (writer) and workers and the DAG processor (readers); imports
nothing heavy, because workers import it.

    <repos root>/<name>/
        cache.git/              the bare cache (the syncer's only)
        snapshots/<sha>/        one published commit, whole tree, read-only
        snapshots/.tmp-<...>/   an export in progress (removed when a syncer starts)
        leases/<sha>.lock       readers hold a shared flock on it while they use the snapshot
        current -> snapshots/<sha>   swapped atomically (rename of a new link over the old)
        quarantine/<stamp>/     corrupted caches, kept for inspection

A reader resolves `current` once (`current_sha`), takes a lease on that SHA, and from then on
reads only `snapshot_dir(sha)`: never through the link, which may move under it.
The snapshot's tarball is kept in the object store under `tarball_key(name, sha)`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{40}$")
TARBALL_PREFIX = "_code/"


def tarball_key(name: str, sha: str) -> str:
    """Object-store key of the gzipped tar of snapshot `sha` (the commit's whole tree)."""
    return f"{TARBALL_PREFIX}{name}/{sha}.tar.gz"


def is_sha(value: str) -> bool:
    return bool(_SHA.match(value))


@dataclass(frozen=True)
class RepoLayout:
    root: Path  # <repos root>/<name>
    name: str

    @classmethod
    def of(cls, repos_root: Path, name: str) -> RepoLayout:
        return cls(repos_root / name, name)

    @property
    def cache(self) -> Path:
        return self.root / "cache.git"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def leases(self) -> Path:
        return self.root / "leases"

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def snapshot_dir(self, sha: str) -> Path:
        if not is_sha(sha):
            raise ValueError(f"not a commit SHA: {sha!r}")
        return self.snapshots / sha

    def current_sha(self) -> str | None:
        """The published commit, read once from the link; None before the first publish."""
        try:
            target = os.readlink(self.current_link)
        except OSError:
            return None
        sha = Path(target).name
        return sha if is_sha(sha) else None

    def publish(self, sha: str) -> None:
        """Point `current` at snapshot `sha` atomically (the snapshot must be complete)."""
        tmp = self.root / f".current-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"snapshots/{sha}", tmp)
        os.replace(tmp, self.current_link)
        fsync_dir(self.root)

    def lease(self, sha: str) -> Lease:
        """A shared hold on snapshot `sha`: the collector leaves it alone while held."""
        self.leases.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.leases / f"{sha}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        return Lease(fd)

    def try_exclusive(self, sha: str) -> Lease | None:
        """For the collector: an exclusive hold on `sha`, or None when a reader holds it."""
        self.leases.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.leases / f"{sha}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return Lease(fd)


class Lease:
    """An flock held on a snapshot's lock file; released by `release()` or process exit."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
