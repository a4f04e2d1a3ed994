"""The git syncer against real remotes on 127.0.0.1 (file://, git daemon, smart HTTP with
Basic auth, a server that never answers): what is published, what a failure leaves served,
where credentials never end up, crashes at every step, readers racing the syncer, and the
collector. Every remote is stopped by its context manager."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest

from brisa.objectstore import ObjectInfo, ObjectStore, open_object_store
from brisa.repos.config import RepoSettings, check
from brisa.repos.git import AUTH, NETWORK, NOT_FOUND, TIMEOUT
from brisa.repos.layout import RepoLayout, tarball_key
from brisa.repos.sync import RepoSyncer, SyncResult
from support.gitserver import (
    GitDaemon,
    HangingServer,
    HttpGitServer,
    Upstream,
    closed_port,
)

NAME = "team-a"
FILES = {
    "dags/hello.py": "HELLO = 1\n",
    "README.md": "# team a\n",
    "bin/run.sh": "#!/bin/sh\necho hi\n",
}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    """A repository with one commit of FILES, bin/run.sh executable."""
    up = Upstream(tmp_path / "srv")
    for name, text in FILES.items():
        (up.work / name).parent.mkdir(parents=True, exist_ok=True)
        (up.work / name).write_text(text)
    os.chmod(up.work / "bin/run.sh", 0o755)
    up.commit({}, "first")
    return up


def make_syncer(
    root: Path,
    url: str,
    *,
    objects: ObjectStore | None = None,
    environ: dict[str, str] | None = None,
    name: str = NAME,
    **settings: object,
) -> RepoSyncer:
    settings.setdefault("timeout", 10.0)
    repo = check(RepoSettings(name=name, url=url, **settings))  # type: ignore[arg-type]
    return RepoSyncer(repo, root, objects=objects, environ=environ or {})


def read_tree(folder: Path) -> dict[str, str]:
    """Every regular file under `folder`, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def tarball_tree(objects: ObjectStore, sha: str) -> dict[str, str]:
    data = objects.get(tarball_key(NAME, sha))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {
            m.name: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def leftovers(layout: RepoLayout) -> list[str]:
    names = [p.name for p in layout.root.glob(".*")]
    if layout.snapshots.is_dir():
        names += [p.name for p in layout.snapshots.glob(".*")]
    return names


def assert_serves(layout: RepoLayout, sha: str, files: dict[str, str]) -> None:
    """`current` is `sha`, whose snapshot holds exactly `files`, all read-only."""
    assert layout.current_sha() == sha
    snapshot = layout.snapshot_dir(sha)
    assert read_tree(snapshot) == files
    for path in [snapshot, *snapshot.rglob("*")]:
        if not path.is_symlink():
            assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, f"{path} is writable"


def ok(result: SyncResult) -> SyncResult:
    assert result.error is None, result.error
    return result


class CountingStore:
    """An object store that counts writes (to see that a no-op pass uploads nothing)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.location = inner.location
        self.puts: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        self.puts.append(key)
        self.inner.put(key, data)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return self.inner.get(key, start, end)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, keys: Iterable[str]) -> None:
        self.inner.delete(keys)


def cmdlines() -> dict[int, bytes]:
    """The command line of every process on the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found[int(entry.name)] = entry.joinpath("cmdline").read_bytes()
    return found


def files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            hits.append(path)
    return hits


# ---------------------------------------------------------------------------------------------
# publishing
# ---------------------------------------------------------------------------------------------


def test_first_pass_publishes_a_read_only_snapshot_and_its_tarball(
    tmp_path: Path, upstream: Upstream, object_store: ObjectStore
) -> None:
    syncer = make_syncer(tmp_path / "repos", upstream.url, objects=object_store)
    result = ok(syncer.sync())
    sha = upstream.head()
    assert (result.sha, result.published) == (sha, True)
    layout = syncer.layout
    assert_serves(layout, sha, FILES)
    snapshot = layout.snapshot_dir(sha)
    assert stat.S_IMODE((snapshot / "README.md").stat().st_mode) == 0o444
    assert stat.S_IMODE((snapshot / "bin/run.sh").stat().st_mode) == 0o555
    assert stat.S_IMODE((snapshot / "dags").stat().st_mode) == 0o555
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o555
    # The tarball is the whole tree with the repository root at the top, no prefix folder.
    assert tarball_tree(object_store, sha) == FILES
    # The cache knows no remote: the URL was only ever on git's command line.
    config = (layout.cache / "config").read_text()
    assert "remote" not in config
    assert str(upstream.bare) not in config


def test_a_pass_with_nothing_new_only_asks_the_remote_for_its_ref(
    tmp_path: Path, upstream: Upstream
) -> None:
    objects = CountingStore(open_object_store(f"file://{tmp_path / 'objects'}"))
    with HttpGitServer(upstream.base) as server:
        syncer = make_syncer(tmp_path / "repos", server.url(), objects=objects)
        first = ok(syncer.sync())
        assert (server.fetches, len(objects.puts)) == (1, 1)
        again = ok(syncer.sync())
        assert (again.sha, again.published) == (first.sha, False)
        assert (server.fetches, len(objects.puts)) == (1, 1)  # no fetch, no upload


def test_each_new_commit_is_published_and_the_previous_one_kept_until_collected(
    tmp_path: Path, upstream: Upstream
) -> None:
    syncer = make_syncer(tmp_path / "repos", upstream.url)
    old = ok(syncer.sync()).sha
    new = upstream.commit({"dags/hello.py": "HELLO = 2\n", "README.md": None}, "second")
    result = ok(syncer.sync())
    assert (result.sha, result.published) == (new, True)
    expected = {k: v for k, v in FILES.items() if k != "README.md"} | {
        "dags/hello.py": "HELLO = 2\n"
    }
    assert_serves(syncer.layout, new, expected)
    assert old is not None
    assert read_tree(syncer.layout.snapshot_dir(old)) == FILES  # a pinned run still reads it


@pytest.mark.parametrize("kind", ["branch", "annotated-tag", "light-tag"])
def test_a_branch_or_a_tag_is_followed_instead_of_the_default_branch(
    tmp_path: Path, upstream: Upstream, kind: str
) -> None:
    if kind == "branch":
        wanted = upstream.create_branch("release")
        settings = {"branch": "release"}
    else:
        wanted = upstream.tag("v1", annotated=kind == "annotated-tag")
        settings = {"tag": "v1"}
    upstream.commit({"dags/hello.py": "HELLO = 'main moved on'\n"}, "on main")
    syncer = make_syncer(tmp_path / "repos", upstream.url, **settings)
    assert ok(syncer.sync()).sha == wanted
    assert_serves(syncer.layout, wanted, FILES)
    # An annotated tag names a tag object, not the commit: still a no-op the second time.
    assert ok(syncer.sync()).published is False


def test_a_pinned_commit_is_fetched_by_sha_and_then_never_asked_for_again(
    tmp_path: Path, upstream: Upstream
) -> None:
    pinned = upstream.head()
    upstream.commit({"dags/hello.py": "HELLO = 'later'\n"}, "later")
    with GitDaemon(upstream.base) as daemon:
        syncer = make_syncer(tmp_path / "repos", daemon.url(), commit=pinned)
        result = ok(syncer.sync())
    assert (result.sha, result.published) == (pinned, True)
    assert_serves(syncer.layout, pinned, FILES)
    # The daemon is gone: a pinned commit that is published needs no remote at all.
    again = ok(syncer.sync())
    assert (again.sha, again.published) == (pinned, False)


@pytest.mark.parametrize("depth", [1, 0])
def test_force_pushes_publish_the_new_tip(tmp_path: Path, upstream: Upstream, depth: int) -> None:
    syncer = make_syncer(tmp_path / "repos", upstream.url, depth=depth)
    first = ok(syncer.sync()).sha
    upstream.commit({"dags/hello.py": "HELLO = 2\n"}, "second")
    ok(syncer.sync())
    rewound = upstream.rewind()  # the branch goes back to the first commit
    assert rewound == first
    assert ok(syncer.sync()).sha == first
    assert_serves(syncer.layout, first, FILES)
    unrelated = upstream.replace_history({"other.py": "X = 1\n"})
    result = ok(syncer.sync())
    assert (result.sha, result.published) == (unrelated, True)
    assert_serves(syncer.layout, unrelated, {"other.py": "X = 1\n"})


@pytest.mark.parametrize("missing", ["deleted-branch", "unknown-tag", "unknown-commit"])
def test_a_ref_that_does_not_exist_is_not_found_and_the_last_commit_stays(
    tmp_path: Path, upstream: Upstream, missing: str
) -> None:
    upstream.create_branch("feature")
    root = tmp_path / "repos"
    served = ok(make_syncer(root, upstream.url, branch="feature").sync()).sha
    assert served is not None
    if missing == "deleted-branch":
        upstream.delete_branch("feature")
        syncer = make_syncer(root, upstream.url, branch="feature")
        what = "branch 'feature'"
    elif missing == "unknown-tag":  # the configuration changed to a tag nobody pushed
        syncer = make_syncer(root, upstream.url, tag="v9")
        what = "tag 'v9'"
    else:
        syncer = make_syncer(root, upstream.url, commit="0" * 40)
        what = "commit " + "0" * 40
    result = syncer.sync()
    assert (result.kind, result.sha, result.published) == (NOT_FOUND, served, False)
    assert result.error is not None
    assert what in result.error
    assert f"still serving {served[:12]}" in result.error
    assert_serves(syncer.layout, served, FILES)


# ---------------------------------------------------------------------------------------------
# failures: network, hang, credentials
# ---------------------------------------------------------------------------------------------


def test_an_unreachable_or_hanging_remote_fails_in_time_and_keeps_serving(
    tmp_path: Path, upstream: Upstream
) -> None:
    root = tmp_path / "repos"
    with HttpGitServer(upstream.base) as server:
        served = ok(make_syncer(root, server.url()).sync()).sha
    assert served is not None
    refused = make_syncer(root, f"http://127.0.0.1:{closed_port()}/dags.git").sync()
    assert (refused.kind, refused.sha) == (NETWORK, served)
    timeout = 1.0
    with HangingServer() as hanging:
        for url in (hanging.url("http"), hanging.url("git")):
            result = make_syncer(root, url, timeout=timeout).sync()
            assert (result.kind, result.sha, result.published) == (TIMEOUT, served, False)
            assert result.duration < timeout + 1.0
            assert "raise [repos.team-a] timeout" in (result.error or "")
    assert_serves(RepoLayout.of(root, NAME), served, FILES)


def test_a_canary_token_is_never_written_logged_or_shown_in_a_command_line(
    tmp_path: Path, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    canary = f"canary-{uuid.uuid4().hex}"
    wrong = f"wrong-canary-{uuid.uuid4().hex}"
    root = tmp_path / "repos"
    token_file = tmp_path / "secrets" / "token"
    token_file.parent.mkdir()
    token_file.write_text(canary + "\n")
    results = []
    with HttpGitServer(upstream.base, username="bot", token=canary) as server:
        by_file = make_syncer(root, server.url(), username="bot", password_file=str(token_file))
        results.append(ok(by_file.sync()))
        by_env = make_syncer(
            root, server.url(), name="team-b", username="bot", password_env="TEAM_B_TOKEN",
            environ={"TEAM_B_TOKEN": canary},
        )  # fmt: skip
        results.append(ok(by_env.sync()))
        assert server.refused >= 2  # git first asked without credentials, as a client does
        # A wrong token (read again at this pass): refused, and the last commit stays.
        token_file.write_text(wrong)
        upstream.commit({"dags/hello.py": "HELLO = 2\n"}, "second")
        denied = by_file.sync()
        results.append(denied)
        assert (denied.kind, denied.sha) == (AUTH, results[0].sha)
        assert "check username and the token" in (denied.error or "")
    # While git waits on an authenticated request, no command line holds the token.
    token_file.write_text(canary)
    with HttpGitServer(upstream.base, username="bot", token=canary, hang=True) as server:
        slow = make_syncer(
            root, server.url(), username="bot", password_file=str(token_file), timeout=2.0
        )
        outcome: list[SyncResult] = []
        worker = threading.Thread(target=lambda: outcome.append(slow.sync()))
        worker.start()
        assert server.hanging.wait(10)
        running = cmdlines()
        worker.join(10)
    assert any(
        b"ls-remote" in line and str(server.port).encode() in line for line in running.values()
    )
    assert [pid for pid, line in running.items() if canary.encode() in line] == []
    assert outcome[0].kind == TIMEOUT
    results += outcome
    for secret in (canary, wrong):
        assert files_containing(root, secret.encode()) == []
        assert secret not in caplog.text
        assert all(secret not in (r.error or "") for r in results)


# ---------------------------------------------------------------------------------------------
# corrupted cache, crashes, leftovers
# ---------------------------------------------------------------------------------------------


def _garble_head(cache: Path) -> None:
    (cache / "HEAD").write_text("garbage\n")


def _delete_head(cache: Path) -> None:
    (cache / "HEAD").unlink()


def _delete_objects(cache: Path) -> None:
    shutil.rmtree(cache / "objects")


def _garble_objects(cache: Path) -> None:
    for path in (cache / "objects").rglob("*"):
        if path.is_file() and path.parent.name != "info":
            path.chmod(0o644)
            path.write_bytes(b"not a git object")


@pytest.mark.parametrize("corrupt", [_garble_head, _delete_head, _delete_objects, _garble_objects])
def test_a_corrupted_cache_is_quarantined_and_the_same_pass_publishes(
    tmp_path: Path, upstream: Upstream, corrupt: object
) -> None:
    syncer = make_syncer(tmp_path / "repos", upstream.url)
    ok(syncer.sync())
    corrupt(syncer.layout.cache)  # type: ignore[operator]
    new = upstream.commit({"dags/hello.py": "HELLO = 2\n"}, "second")
    result = ok(syncer.sync())
    assert (result.sha, result.published) == (new, True)
    assert len(list(syncer.layout.quarantine.iterdir())) == 1
    assert ok(syncer.sync()).published is False  # the new cache works


def test_quarantine_keeps_only_the_last_corrupted_caches(
    tmp_path: Path, upstream: Upstream
) -> None:
    syncer = make_syncer(tmp_path / "repos", upstream.url)
    ok(syncer.sync())
    for n in range(5):
        _garble_head(syncer.layout.cache)
        upstream.commit({"n.txt": str(n)}, f"commit {n}")
        ok(syncer.sync())
    assert len(list(syncer.layout.quarantine.iterdir())) == 3


CRASHING_SYNC = r"""
import json, os, signal, sys, threading, time
from pathlib import Path
from brisa.objectstore import open_object_store
from brisa.repos.config import RepoSettings
from brisa.repos.sync import RepoSyncer

args = json.loads(sys.argv[1])
step = args["step"]

class Crashing(RepoSyncer):
    def _checkpoint(self, reached):
        if reached == step:
            os.kill(os.getpid(), signal.SIGKILL)

def kill_during(verb):
    # SIGKILL this process while one of its git children runs `verb`.
    me = str(os.getpid())
    while True:
        for proc in Path("/proc").iterdir():
            try:
                ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError):
                continue
            if ppid == me and verb.encode() in argv:
                # Once the server has seen the request: git is fetching, however slow
                # its start on a busy machine.
                while not Path(args["fetching"]).exists():
                    time.sleep(0.002)
                os.kill(int(me), signal.SIGKILL)
        time.sleep(0.002)

if step.startswith("during-"):
    threading.Thread(target=kill_during, args=(step[7:],), daemon=True).start()
repo = RepoSettings(name=args["name"], url=args["url"], timeout=10)
objects = open_object_store(args["objects"])
Crashing(repo, Path(args["root"]), objects=objects, environ={}).sync()
"""

STEPS = ["cache-created", "during-fetch", "fetched", "archived", "unpacked", "read-only"]
STEPS += ["installed", "uploaded", "published"]


@pytest.mark.parametrize("step", STEPS)
def test_a_syncer_killed_at_any_step_leaves_the_old_commit_and_the_next_pass_converges(
    tmp_path: Path, upstream: Upstream, step: str
) -> None:
    root = tmp_path / "repos"
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    layout = RepoLayout.of(root, NAME)
    with HttpGitServer(upstream.base) as server:
        old = None
        if step != "cache-created":
            old = ok(make_syncer(root, server.url(), objects=objects).sync()).sha
        new = upstream.commit({"dags/hello.py": "HELLO = 2\n"}, "second")
        # A remote this slow to send objects makes sure git is fetching when the syncer is
        # killed, and would keep a git that outlives the syncer alive.
        server.fetch_delay = 30.0 if step == "during-fetch" else 0.0
        args = {"name": NAME, "url": server.url(), "root": str(root), "objects": objects.location}
        args["step"] = step
        args["fetching"] = str(tmp_path / "fetching")
        seen = threading.Thread(
            target=lambda: server.fetching.wait(60) and Path(args["fetching"]).touch(),
            daemon=True,
        )
        seen.start()
        done = subprocess.run(
            [sys.executable, "-c", CRASHING_SYNC, json.dumps(args)], timeout=60, check=False
        )
        assert done.returncode == -signal.SIGKILL
        server.fetch_delay = 0.0
        # What readers see right after the crash: the old commit, or the new one when the
        # crash came after the switch; a whole tree either way.
        after_crash = layout.current_sha()
        assert after_crash == (new if step == "published" else old)
        if after_crash:
            assert read_tree(layout.snapshot_dir(after_crash))["dags/hello.py"].startswith("HELLO")
        if step in ("archived", "unpacked", "read-only"):
            assert any(name.startswith(".tmp-") for name in leftovers(layout))
        # A git started by the killed syncer died with it.
        assert server.fetching.is_set() == (step == "during-fetch")
        deadline = time.monotonic() + 2
        while any(b"fetch" in c and server.url().encode() in c for c in cmdlines().values()):
            assert time.monotonic() < deadline, "a git fetch outlived the killed syncer"
            time.sleep(0.05)
        # A restarted syncer converges on the new commit in one pass.
        result = ok(make_syncer(root, server.url(), objects=objects).sync())
    assert result.sha == new
    assert leftovers(layout) == []
    expected = FILES | {"dags/hello.py": "HELLO = 2\n"}
    assert_serves(layout, new, expected)
    assert tarball_tree(objects, new) == expected


def test_leftovers_of_a_killed_syncer_are_removed_when_a_syncer_starts(
    tmp_path: Path, upstream: Upstream
) -> None:
    root = tmp_path / "repos"
    layout = RepoLayout.of(root, NAME)
    first = ok(make_syncer(root, upstream.url).sync()).sha
    half = layout.snapshots / f".tmp-{'a' * 40}-0000"
    (half / "dags").mkdir(parents=True)
    (half / "dags/x.py").write_text("half")
    for path in (half / "dags/x.py", half / "dags", half):
        path.chmod(0o555)
    (layout.snapshots / f".tmp-{'a' * 40}-0001.tar").write_bytes(b"half a tar")
    os.symlink(f"snapshots/{'b' * 40}", layout.root / ".current-4242")
    (layout.root / ".tmp-cache-0000").mkdir()
    # Locks a git killed on timeout leaves behind would make every later fetch fail.
    (layout.cache / "shallow.lock").write_text("")
    (layout.cache / "refs/brisa/target.lock").write_text("")
    syncer = make_syncer(root, upstream.url)
    assert leftovers(layout) == []
    assert layout.current_sha() == first
    new = upstream.commit({"dags/hello.py": "HELLO = 2\n"}, "second")
    assert ok(syncer.sync()).sha == new


def test_a_symlink_leading_out_of_the_repository_is_left_out(
    tmp_path: Path, upstream: Upstream
) -> None:
    os.symlink("/etc/passwd", upstream.work / "escape")
    os.symlink("README.md", upstream.work / "readme-link")
    sha = upstream.commit({}, "links")
    syncer = make_syncer(tmp_path / "repos", upstream.url)
    assert ok(syncer.sync()).sha == sha
    snapshot = syncer.layout.snapshot_dir(sha)
    assert not (snapshot / "escape").is_symlink()
    assert (snapshot / "readme-link").read_text() == FILES["README.md"]


def test_the_committed_bytes_are_exported_whatever_gitattributes_say(
    tmp_path: Path, upstream: Upstream
) -> None:
    committed = {
        ".gitattributes": "private.txt export-ignore\nversion.txt export-subst ident\n"
        "*.bat text eol=crlf\n",
        "private.txt": "still needed by a task\n",
        "version.txt": "$Format:%H$ $Id$\n",
        "run.bat": "echo one\necho two\n",
    }
    sha = upstream.commit(committed, "attributes")
    syncer = make_syncer(tmp_path / "repos", upstream.url)
    assert ok(syncer.sync()).sha == sha
    snapshot = syncer.layout.snapshot_dir(sha)
    assert read_tree(snapshot) == FILES | committed
    assert (snapshot / "run.bat").read_bytes() == b"echo one\necho two\n"  # no CRLF added


# ---------------------------------------------------------------------------------------------
# readers and the collector
# ---------------------------------------------------------------------------------------------

READER = r"""
import json, sys, time
from pathlib import Path
from brisa.repos.layout import RepoLayout

layout = RepoLayout.of(Path(sys.argv[1]), sys.argv[2])
stop, files = Path(sys.argv[3]), int(sys.argv[4])
seen, errors, reads = {}, [], 0
while not stop.exists():
    sha = layout.current_sha()
    if sha is None:
        time.sleep(0.01)
        continue
    with layout.lease(sha):
        folder = layout.snapshot_dir(sha)
        if not folder.is_dir():
            continue  # collected between reading the link and the lease: resolve again
        try:
            texts = []
            for path in sorted(folder.rglob("*.txt")):
                texts.append(path.read_text())
                time.sleep(0.001)  # a reader that takes its time, as a DAG parser does
        except OSError as exc:
            errors.append(f"{sha}: {exc}")
            continue
    markers = sorted({t.split()[0] for t in texts})
    if len(texts) != files or len(markers) != 1:
        errors.append(f"{sha}: {len(texts)} files, markers {markers}")
    seen[sha] = markers
    reads += 1
print(json.dumps({"reads": reads, "seen": seen, "errors": errors}))
"""


def _generation(n: int, files: int) -> dict[str, str | None]:
    return {f"part{i % 3}/file{i}.txt": f"gen-{n} file {i}\n" for i in range(files)}


def test_readers_never_see_a_mixed_or_vanishing_snapshot(
    tmp_path: Path, upstream: Upstream
) -> None:
    files, generations = 24, 12
    root = tmp_path / "repos"
    syncer = make_syncer(root, upstream.url)
    marker_of = {upstream.commit(_generation(0, files), "gen 0"): ["gen-0"]}
    ok(syncer.sync())
    stop = tmp_path / "stop"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(root), NAME, str(stop), str(files)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for n in range(1, generations + 1):
            marker_of[upstream.commit(_generation(n, files), f"gen {n}")] = [f"gen-{n}"]
            ok(syncer.sync())
            syncer.collect(set())
    finally:
        stop.touch()
        reports = [json.loads(r.communicate(timeout=30)[0]) for r in readers]
    for report in reports:
        assert report["errors"] == []
        assert report["reads"] > 0
        assert all(marker_of[sha] == markers for sha, markers in report["seen"].items())
    assert len({sha for r in reports for sha in r["seen"]}) >= 2  # they raced real publishes
    syncer.collect(set())  # the readers are gone: only the current commit is left
    assert [p.name for p in syncer.layout.snapshots.iterdir()] == [syncer.layout.current_sha()]


def _disk_use(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*"))


def test_the_collector_keeps_current_leased_and_kept_commits_only(
    tmp_path: Path, upstream: Upstream
) -> None:
    objects = open_object_store(f"file://{tmp_path / 'objects'}")
    syncer = make_syncer(tmp_path / "repos", upstream.url, objects=objects)
    layout = syncer.layout
    kept = ok(syncer.sync()).sha
    assert kept is not None
    leased_sha, lease, sizes = "", None, []
    for n in range(30):
        sha = upstream.commit({"dags/hello.py": f"HELLO = {n}\n" + "x" * 2000}, f"commit {n}")
        ok(syncer.sync())
        if n == 5:
            leased_sha, lease = sha, layout.lease(sha)  # a reader still using commit 5
        syncer.collect({kept})
        sizes.append(_disk_use(layout.snapshots))
    current = layout.current_sha()
    assert current is not None
    on_disk = {p.name for p in layout.snapshots.iterdir()}
    assert on_disk == {current, kept, leased_sha}
    assert max(sizes[10:]) <= 1.2 * sizes[10]  # disk use does not grow with commits
    assert lease is not None
    lease.release()
    removed = syncer.collect(set())
    assert set(removed) == {kept, leased_sha}
    assert {p.name for p in layout.snapshots.iterdir()} == {current}
    assert {p.name for p in layout.leases.iterdir()} <= {f"{current}.lock"}
    assert len(objects.list(f"_code/{NAME}/")) == 31  # tarballs are not the collector's


def test_one_syncer_at_a_time_per_repository_folder(tmp_path: Path, upstream: Upstream) -> None:
    root = tmp_path / "repos"
    first, second = make_syncer(root, upstream.url), make_syncer(root, upstream.url)
    results: list[SyncResult] = []
    new = upstream.commit({"dags/hello.py": "HELLO = 2\n"}, "second")
    threads = [
        threading.Thread(target=lambda s=s: results.append(s.sync())) for s in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(r.error is None and r.sha == new for r in results)
    assert sorted(r.published for r in results) == [False, True]


def test_git_processes_of_a_pass_never_outlive_it(tmp_path: Path, upstream: Upstream) -> None:
    with HangingServer() as hanging:
        syncer = make_syncer(tmp_path / "repos", hanging.url("git"), timeout=1.0)
        assert syncer.sync().kind == TIMEOUT
        url = hanging.url("git").encode()
        assert [line for line in cmdlines().values() if url in line] == []
