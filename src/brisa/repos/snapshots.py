"""Snapshot folders on disk: unpacking a commit's tree into one, making it read-only,
installing it under its SHA in one rename, the tarball uploaded for workers, leftovers of
killed syncers, and the collector.

Every step leaves either nothing visible or a complete snapshot: a tree is unpacked into
`snapshots/.tmp-<sha>-<random>` and renamed to `snapshots/<sha>` only once complete, and a
snapshot is collected by renaming it back to a `.tmp-` name before deleting it. So a
`snapshots/<sha>` folder that exists is always whole, and a `.tmp-` entry is always garbage
once the syncer's lock is held.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import secrets
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from brisa.repos.layout import RepoLayout, fsync_dir, is_sha

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"


def temp_path(layout: RepoLayout, sha: str, suffix: str = "") -> Path:
    """A fresh `.tmp-` name beside the snapshots (removed by `clean_leftovers` if abandoned)."""
    return layout.snapshots / f"{TMP_PREFIX}{sha}-{secrets.token_hex(4)}{suffix}"


def remove_tree(path: Path) -> None:
    """Delete a file or a folder, read-only snapshot folders included."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    # Entries of a 0555 folder cannot be deleted: give the owner write access first.
    for dirpath, _, _ in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def clean_leftovers(layout: RepoLayout) -> list[Path]:
    """Remove what a killed syncer left: half-made snapshots and tarballs (`.tmp-*` beside
    the snapshots), a half-made cache (`.tmp-*` in the repository folder) and half-swapped
    links (`.current-*`). Call it only while holding the syncer's lock."""
    found: list[Path] = []
    for folder, pattern in (
        (layout.snapshots, f"{TMP_PREFIX}*"),
        (layout.root, f"{TMP_PREFIX}*"),
        (layout.root, ".current-*"),
    ):
        if folder.is_dir():
            found += sorted(folder.glob(pattern))
    for path in found:
        remove_tree(path)
    if found:
        log.info("removed %d leftovers of an interrupted sync in %s", len(found), layout.root)
    return found


@contextlib.contextmanager
def archive_file(layout: RepoLayout, sha: str) -> Iterator[Path]:
    """A temporary path for the tar of commit `sha`, deleted when the block ends."""
    layout.snapshots.mkdir(parents=True, exist_ok=True)
    path = temp_path(layout, sha, ".tar")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    # The "data" filter refuses what could write outside the snapshot (absolute paths,
    # links leading out of it). One such entry should not keep a team's whole repository
    # from being published: it is left out, and said so.
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError as exc:
        log.warning("left %r out of the snapshot: %s", member.name, exc)
        return None


def unpack(tar_path: Path, dest: Path) -> None:
    """Extract a tar of a commit's tree (as `git archive` writes it) into a new folder."""
    dest.mkdir()
    with tarfile.open(tar_path, "r:") as archive:
        archive.extractall(dest, filter=_member_filter)


def make_read_only(root: Path) -> None:
    """Files 0444 (0555 when git marks them executable), folders 0555: a snapshot is never
    changed after it is published, and a task that tries gets an error instead of a silent
    edit of code other tasks run."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames]:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue  # a link has no mode of its own on Linux
            if stat.S_ISDIR(mode):
                os.chmod(path, 0o555)
            else:
                os.chmod(path, 0o555 if mode & stat.S_IXUSR else 0o444)
    os.chmod(root, 0o555)


def install(tmp: Path, final: Path) -> None:
    """Rename the complete tree `tmp` to its snapshot name; if a snapshot of that commit is
    already there (a previous pass got that far), keep it and drop `tmp`."""
    if final.is_dir():
        remove_tree(tmp)
        return
    os.rename(tmp, final)
    fsync_dir(final.parent)


def gzipped(tar_path: Path) -> bytes:
    """The gzip of a tar file, the same bytes for the same tar (no time in the header)."""
    return gzip.compress(tar_path.read_bytes(), compresslevel=6, mtime=0)


def collect(layout: RepoLayout, protect: set[str]) -> list[str]:
    """Remove snapshots that are not in `protect` and that no reader holds (a reader holds
    a shared lease; the collector needs an exclusive one), with their lease files; return
    their SHAs. Call it only while holding the syncer's lock."""
    removed: list[str] = []
    if layout.snapshots.is_dir():
        for entry in sorted(layout.snapshots.iterdir()):
            sha = entry.name
            if is_sha(sha) and sha not in protect and _remove_snapshot(layout, sha):
                removed.append(sha)
    _remove_orphan_leases(layout, protect)
    return removed


def _remove_snapshot(layout: RepoLayout, sha: str) -> bool:
    lease = layout.try_exclusive(sha)
    if lease is None:
        return False
    with lease:
        # Renamed away while the lease is held: a reader that gets the lease after us finds
        # no snapshot folder, and a killed collector leaves only a `.tmp-` entry.
        trash = temp_path(layout, sha, ".gc")
        os.rename(layout.snapshot_dir(sha), trash)
        (layout.leases / f"{sha}.lock").unlink(missing_ok=True)
    remove_tree(trash)
    return True


def _remove_orphan_leases(layout: RepoLayout, protect: set[str]) -> None:
    """Lease files of snapshots that no longer exist (readers of collected commits)."""
    if not layout.leases.is_dir():
        return
    for lock in sorted(layout.leases.glob("*.lock")):
        sha = lock.name.removesuffix(".lock")
        if not is_sha(sha) or sha in protect or layout.snapshot_dir(sha).exists():
            continue
        lease = layout.try_exclusive(sha)
        if lease is not None:
            with lease:
                lock.unlink(missing_ok=True)
