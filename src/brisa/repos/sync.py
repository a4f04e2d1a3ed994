"""The git syncer of one DAG repository: fetch the configured ref into a bare cache, publish
each new commit as a read-only snapshot folder named by its SHA, swap `current` to it.

One pass (`RepoSyncer.sync`) costs one `git ls-remote` when nothing changed (nothing at all
for a pinned commit once published). When the remote moved:

    fetch → archive to a temp tar → unpack into .tmp-<sha>-* → read-only → rename to <sha>
          → upload the tarball (when an object store is given) → swap `current`

Every step is idempotent and none changes what readers see before the last one, so a syncer
killed anywhere leaves the previous commit served, and the next pass (in any process)
converges. Failures never unpublish. A corrupted cache is moved to `quarantine/` and made
again in the same pass. See `brisa.repos.layout` for the on-disk layout and the leases.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import secrets
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from brisa.errors import BrisaError
from brisa.objectstore.base import StoreUnavailable
from brisa.repos import snapshots
from brisa.repos.config import RepoSettings
from brisa.repos.git import (
    AUTH,
    CORRUPT,
    NETWORK,
    NOT_FOUND,
    OTHER,
    TIMEOUT,
    GitAuth,
    GitError,
    base_env,
    git_auth,
    redact,
    run_git,
)
from brisa.repos.layout import RepoLayout, is_sha, tarball_key

if TYPE_CHECKING:
    from brisa.objectstore import ObjectStore

log = logging.getLogger(__name__)

TARGET_REF = "refs/brisa/target"  # the only ref of the cache: the last fetched commit
KEEP_QUARANTINED = 3  # corrupted caches kept for inspection; older ones are deleted

_ADVICE = {
    NETWORK: "check the URL and that its host is reachable from this machine",
    AUTH: "check username and the token (password_file / password_env), or the SSH key, "
    "and that they may read the repository",
    NOT_FOUND: "check that the repository and the {what} exist on the remote",
    TIMEOUT: "check the network, or raise [repos.{name}] timeout",
    CORRUPT: "the cache was re-created and the pass still failed; see the copies in {where}",
    OTHER: "see the message for the cause",
}


@dataclass(frozen=True)
class SyncResult:
    """What one pass did. `sha` is the published commit after the pass (None: nothing
    published yet); `error` says what went wrong and what to do (credentials redacted) and
    `kind` classifies it (network, auth, not_found, timeout, corrupt, other)."""

    sha: str | None
    published: bool
    error: str | None
    kind: str | None
    duration: float


def retry_delay(period: float, failures: int, rng: random.Random) -> float:
    """Seconds to wait before the next pass after `failures` consecutive failed passes.

    The first retry comes soon (min(period, 2 s), at least 0.5 s), then the wait doubles up
    to min(10 * period, 10 min) — but never below the period — with ±20% jitter so that many
    repositories failing at once (a forge outage) do not retry in step. Pure."""
    if failures <= 0:
        return period
    first = max(min(period, 2.0), 0.5)
    cap = max(first, period, min(10.0 * period, 600.0))
    return min(cap, first * 2.0 ** min(failures - 1, 30)) * rng.uniform(0.8, 1.2)


# `git archive` obeys the .gitattributes of the commit: export-ignore would leave files out,
# export-subst, ident, eol and filters would change them. The cache's info/attributes comes
# first and unsets them all, so a snapshot holds the committed bytes of every file.
_EXPORT_ATTRIBUTES = "* -export-ignore -export-subst -ident -text -filter -working-tree-encoding\n"


def _write_attributes(gitdir: Path) -> None:
    (gitdir / "info").mkdir(exist_ok=True)
    (gitdir / "info" / "attributes").write_text(_EXPORT_ATTRIBUTES)


class RepoSyncer:
    """Publishes the commits of one git repository under `repos_root/<name>/`.

    `objects`, when given, receives each published commit's tarball (for workers on other
    machines). `environ` is where password_env (and proxy settings) are looked up — the
    process environment, passed in explicitly. One syncer works on a repository folder at a
    time (an flock on `sync.lock`); a second one waits for the first pass to end.
    """

    def __init__(
        self,
        repo: RepoSettings,
        repos_root: Path,
        *,
        objects: ObjectStore | None,
        environ: Mapping[str, str],
    ) -> None:
        if not repo.is_git:
            raise ValueError(f"[repos.{repo.name}] is a folder, not a git repository")
        self.repo = repo
        self.layout = RepoLayout.of(Path(repos_root), repo.name)
        self._objects = objects
        self._environ = dict(environ)
        self._secrets: tuple[str, ...] = ()  # of the last pass, redacted from its error
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._clean()

    # -- public -------------------------------------------------------------------------------

    def sync(self) -> SyncResult:
        """One pass: publish the ref's commit if it is new. Never raises for git, network,
        disk or object-store problems: they are in the result, and the last published commit
        stays current."""
        started = time.monotonic()
        try:
            with self._locked():
                sha, published = self._pass()
        except GitError as exc:
            return self._failed(str(exc), exc.kind, started)
        except StoreUnavailable as exc:
            message = f"the object store failed ({exc})"
            advice = "the commit is published once its code tarball is uploaded there"
            return self._failed(message, NETWORK, started, advice)
        except (BrisaError, OSError, tarfile.TarError) as exc:
            return self._failed(f"{type(exc).__name__}: {exc}", OTHER, started)
        return SyncResult(sha, published, None, None, time.monotonic() - started)

    def collect(self, keep: set[str]) -> list[str]:
        """Remove snapshots that are not current, not leased by a reader and not in `keep`
        (the commits of unfinished runs and whatever else the caller still needs), with their
        lease files. Returns the removed SHAs. Tarballs in the object store are left alone."""
        with self._locked():
            current = self.layout.current_sha()
            protect = set(keep) | ({current} if current else set())
            removed = snapshots.collect(self.layout, protect)
        if removed:
            log.info("[repos.%s] removed %d old snapshots", self.repo.name, len(removed))
        return removed

    # -- one pass -----------------------------------------------------------------------------

    def _pass(self) -> tuple[str, bool]:
        current = self.layout.current_sha()
        if self.repo.commit == current and self.layout.snapshot_dir(current).is_dir():
            return current, False  # a pinned commit never changes: nothing to ask
        auth = git_auth(self.repo, self._environ)
        self._secrets = auth.secrets
        target = self.repo.commit or self._remote_sha(auth)
        if target == current and self.layout.snapshot_dir(target).is_dir():
            return target, False
        self._clean()
        sha = self._materialise(target, auth)
        self.layout.publish(sha)
        log.info("[repos.%s] published commit %s", self.repo.name, sha)
        self._checkpoint("published")
        self._maintain()
        return sha, True

    def _remote_sha(self, auth: GitAuth) -> str:
        """The commit the ref names on the remote, with one `git ls-remote`."""
        ref = self.repo.ref
        patterns = [ref, f"{ref}^{{}}"] if self.repo.tag else [ref]
        out = self._git([*auth.config, "ls-remote", "--", self.repo.url, *patterns], auth=auth)
        found: dict[str, str] = {}
        for line in out.decode(errors="replace").splitlines():
            value, _, name = line.partition("\t")
            found[name.strip()] = value.strip()
        # An annotated tag names a tag object; its peeled line (^{}) names the commit.
        sha = found.get(f"{ref}^{{}}") or found.get(ref)
        if not sha or not is_sha(sha):
            raise GitError(f"{self._what()} does not exist in {redact(self.repo.url)}", NOT_FOUND)
        return sha

    def _materialise(self, target: str, auth: GitAuth) -> str:
        """Make sure snapshot and tarball of the ref's commit exist; return its SHA."""
        if self.layout.snapshot_dir(target).is_dir() and self._uploaded(target):
            return target  # e.g. a rewind to a commit published before
        try:
            return self._export(auth)
        except GitError as exc:
            if exc.kind != CORRUPT:
                raise
            self._quarantine(exc)
            return self._export(auth)

    def _export(self, auth: GitAuth) -> str:
        self._ensure_cache()
        sha = self._fetch(auth)
        self._checkpoint("fetched")
        final = self.layout.snapshot_dir(sha)
        if final.is_dir() and self._uploaded(sha):
            return sha
        with snapshots.archive_file(self.layout, sha) as tar:
            with open(tar, "wb") as out:
                args = ["-c", "tar.umask=022", "archive", "--format=tar", sha]
                self._git(args, stdout=out.fileno())
            self._checkpoint("archived")
            if not final.is_dir():
                self._unpack(tar, sha)
            if self._objects is not None and not self._uploaded(sha):
                self._objects.put(tarball_key(self.repo.name, sha), snapshots.gzipped(tar))
                self._checkpoint("uploaded")
        return sha

    def _unpack(self, tar: Path, sha: str) -> None:
        tmp = snapshots.temp_path(self.layout, sha)
        try:
            snapshots.unpack(tar, tmp)
            self._checkpoint("unpacked")
            snapshots.make_read_only(tmp)
            self._checkpoint("read-only")
            snapshots.install(tmp, self.layout.snapshot_dir(sha))
        finally:
            if tmp.exists():
                snapshots.remove_tree(tmp)
        self._checkpoint("installed")

    def _fetch(self, auth: GitAuth) -> str:
        """Fetch the ref (or pinned commit) into the cache's private ref; its commit's SHA."""
        args = [*auth.config, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
        args += ["--no-auto-maintenance", "--no-recurse-submodules"]
        if self.repo.depth > 0:
            args.append(f"--depth={self.repo.depth}")
        # The URL and refspec are given here, never stored: the cache has no remote, so
        # nothing about the remote (let alone a credential) is written to its config.
        args += ["--", self.repo.url, f"+{self.repo.ref}:{TARGET_REF}"]
        self._git(args, auth=auth)
        out = self._git(["rev-parse", "--verify", "--quiet", f"{TARGET_REF}^{{commit}}"])
        return out.decode().strip()

    def _maintain(self) -> None:
        """Let git repack and prune the cache when it needs to (rarely does anything)."""
        args = ["-c", "gc.autoDetach=false", "-c", "maintenance.autoDetach=false"]
        try:
            self._git([*args, "gc", "--auto", "--quiet"])
        except GitError as exc:
            log.warning("[repos.%s] cache maintenance failed: %s", self.repo.name, exc)

    # -- the cache ----------------------------------------------------------------------------

    def _ensure_cache(self) -> None:
        cache = self.layout.cache
        if cache.exists():
            if cache.is_dir() and not (cache / "info" / "attributes").is_file():
                _write_attributes(cache)
            return
        # Made beside it and renamed: a half-made cache is never taken for a corrupted one.
        tmp = self.layout.root / f"{snapshots.TMP_PREFIX}cache-{secrets.token_hex(4)}"
        try:
            self._git(["init", "--quiet", "--bare", "--template=", "-b", "main", str(tmp)])
            _write_attributes(tmp)
            os.rename(tmp, cache)
        finally:
            if tmp.exists():
                snapshots.remove_tree(tmp)
        self._checkpoint("cache-created")

    def _quarantine(self, exc: GitError) -> None:
        """Move a corrupted cache aside (kept for inspection), so the next fetch starts anew."""
        cache = self.layout.cache
        if not cache.exists():
            return
        self.layout.quarantine.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = self.layout.quarantine / f"{stamp}-{secrets.token_hex(3)}"
        os.rename(cache, dest)
        log.warning(
            "[repos.%s] the git cache is corrupted (%s); moved to %s, fetching again",
            self.repo.name,
            exc,
            dest,
        )
        for old in sorted(self.layout.quarantine.iterdir())[:-KEEP_QUARANTINED]:
            snapshots.remove_tree(old)

    def _clean(self) -> None:
        """Remove what a killed syncer or a git killed on timeout left behind. Only passes
        holding the syncer's lock run git on the cache, so anything found here is stale."""
        snapshots.clean_leftovers(self.layout)
        cache = self.layout.cache
        if not cache.is_dir():
            return
        # A lock file left by a killed git makes every later git refuse to touch the cache.
        stale = list(cache.rglob("*.lock"))
        stale += (cache / "objects").glob("pack/tmp_*")  # half-received packs
        stale += (cache / "objects").glob("incoming-*")
        for path in stale:
            snapshots.remove_tree(path)

    # -- helpers ------------------------------------------------------------------------------

    def _uploaded(self, sha: str) -> bool:
        if self._objects is None:
            return True
        key = tarball_key(self.repo.name, sha)
        return any(info.key == key for info in self._objects.list(key))

    def _git(
        self,
        args: list[str],
        *,
        auth: GitAuth | None = None,
        stdout: int | None = subprocess.PIPE,
    ) -> bytes:
        env = base_env(
            {
                **(auth.env if auth else {}),
                "GIT_DIR": str(self.layout.cache),
                # Never pick up a repository around the repos root (e.g. for ls-remote).
                "GIT_CEILING_DIRECTORIES": str(self.layout.root.parent),
            }
        )
        return run_git(
            args,
            timeout=self.repo.timeout,
            cwd=self.layout.root,
            env=env,
            secrets=auth.secrets if auth else (),
            stdout=stdout,
            credential=auth.credential if auth else b"",
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.layout.root / "sync.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _what(self) -> str:
        repo = self.repo
        if repo.branch:
            return f"branch {repo.branch!r}"
        if repo.tag:
            return f"tag {repo.tag!r}"
        if repo.commit:
            return f"commit {repo.commit}"
        return "default branch (HEAD)"

    def _failed(
        self, message: str, kind: str, started: float, advice: str | None = None
    ) -> SyncResult:
        current = self.layout.current_sha()
        advice = advice or _ADVICE.get(kind, _ADVICE[OTHER]).format(
            what=self._what(), name=self.repo.name, where=self.layout.quarantine
        )
        serving = f"still serving {current[:12]}" if current else "nothing published yet"
        error = (
            f"[repos.{self.repo.name}] sync of {self._what()} from {redact(self.repo.url)} "
            f"failed: {message} — {advice} ({serving})"
        )
        error = redact(error, self._secrets)
        log.debug("%s", error)  # the caller reports it (and records it)
        return SyncResult(current, False, error, kind, time.monotonic() - started)

    def _checkpoint(self, step: str) -> None:
        """Called after each step of a publishing pass; does nothing. Tests override it to
        kill the syncer there and check that the next pass converges."""
