"""W8 git repository sync: a `[repos.bench]` repository of N DAG files served over file://.

A bare repository and a working clone whose `dags/` holds N small fan-out DAGs, committed at
once; a `brisa standalone` whose only DAG source is that repository, synced every `period`.
Measured through the REST API:

- first publish: launch → every DAG of the repository listed;
- new commit, no request: one file changed and one added, pushed right after the previous
  commit was listed (so just after a sync pass: close to the worst phase) → the new DAG
  listed; the budget is period + 2 s, so the figure with a budget is the time beyond the period;
- new commit with a sync request (`POST /api/v1/repos/bench/sync` right after the push):
  request → the new DAG listed;
- re-parsing: after a commit that changes one file, how many DAGs got a new `last_parsed_at`.

Then, in a folder of its own and without a server, a `RepoSyncer` as the DAG processor builds
it: the first publishing pass, a pass when nothing changed, and a pass publishing a one-file
commit. Everything is on 127.0.0.1 or local files; the server is stopped whatever happens.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import dagfiles
from bench.figures import Results
from bench.plan import Plan
from bench.standalone import Standalone, wait_until
from brisa.repos.git import base_env, run_git

if TYPE_CHECKING:
    from brisa.repos.sync import RepoSyncer

NAME = "bench"  # the repository, and the team owning its DAGs
SUBDIR = "dags"
GIT_TIMEOUT = 60.0
# Bench-side git runs like Brisa's own (no user or system config, no prompt), with a fixed
# identity.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Brisa bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Brisa bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def _git(*args: str, cwd: Path | None = None) -> str:
    out = run_git(list(args), timeout=GIT_TIMEOUT, cwd=cwd, env=base_env(_IDENTITY))
    return out.decode().strip()


def dag_id(i: int) -> str:
    """Zero-padded, so that file order (the order the processor stores them) is id order."""
    return f"bench_repo_{i:05d}"


class Upstream:
    """`<base>/bench.git` (bare, what Brisa fetches) and a clone that commits and pushes."""

    def __init__(self, base: Path, files: int) -> None:
        self.bare = base / "bench.git"
        self.work = base / "work"
        self.files = files
        _git("init", "--quiet", "--bare", "-b", "main", str(self.bare))
        _git("init", "--quiet", "-b", "main", str(self.work))
        for i in range(files):
            self.write(dag_id(i))
        self.push(f"{files} DAG files")

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def write(self, name: str, revision: int = 0) -> None:
        """A 3-task fan-out DAG; a new revision changes the bytes, not the structure."""
        source = dagfiles.fanout(3, name) + (f"# revision {revision}\n" if revision else "")
        dagfiles.drop(self.work / SUBDIR, name, source)

    def push(self, message: str) -> str:
        """Commit everything in the working copy and push it; the commit's SHA."""
        _git("add", "--all", cwd=self.work)
        _git("commit", "--quiet", "-m", message, cwd=self.work)
        _git("push", "--quiet", str(self.bare), "main", cwd=self.work)
        return _git("rev-parse", "HEAD", cwd=self.work)


def config(url: str, period: float) -> str:
    """The standalone's brisa.toml: one git repository, synced every `period` seconds."""
    return (
        f'[repos.{NAME}]\nurl = "{url}"\nbranch = "main"\n'
        f'subdir = "{SUBDIR}"\nperiod = "{period:g}s"\n'
    )


# --- reading the API ---------------------------------------------------------------------


def _dag(server: Standalone, dag: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = server.find_dag(dag, team=NAME)
    return found


def _dags(server: Standalone) -> dict[str, dict[str, Any]]:
    return {d["dag_id"]: d for d in server.list_dags(NAME)}


def _wait_listed(server: Standalone, dag: str, timeout: float = 60.0) -> float:
    """Waits until the DAG is listed; the monotonic time it was seen."""
    wait_until(lambda: _dag(server, dag) is not None, timeout, f"DAG {dag} listed", every=0.005)
    return time.monotonic()


def _request_sync(server: Standalone) -> None:
    answer = server.request("POST", f"/api/v1/repos/{NAME}/sync")
    if not answer or not answer.get("requested"):
        raise RuntimeError(f"sync request of repository {NAME} refused: {answer}")


# --- the steps ---------------------------------------------------------------------------


def first_publish(server: Standalone, files: int) -> dict[str, float]:
    """Launch → all N DAGs listed. The processor stores them in file order, so the last one
    listed means all were; the full list is checked once."""
    launched = server.launch()
    server.wait_api()
    wait_until(
        lambda: _dag(server, dag_id(files - 1)), 300.0, f"DAG {dag_id(files - 1)}", every=0.02
    )
    seconds = time.monotonic() - launched
    wait_until(lambda: len(_dags(server)) >= files, 60.0, f"{files} DAGs listed", every=0.1)
    return {"reposync.first_publish": seconds}


def new_commit(server: Standalone, upstream: Upstream, i: int, period: float) -> dict[str, float]:
    """One file changed and one new DAG, pushed; push done → new DAG listed, no request."""
    new = f"bench_repo_commit_{i}"
    upstream.write(dag_id(i % upstream.files), revision=1000 + i)
    upstream.write(new)
    upstream.push(f"commit {i}: change one DAG, add {new}")
    pushed = time.monotonic()
    seconds = _wait_listed(server, new, timeout=period + 60.0) - pushed
    return {"reposync.commit": seconds, "reposync.commit_beyond_period": seconds - period}


def requested_commit(server: Standalone, upstream: Upstream, i: int) -> dict[str, float]:
    """The same, with a sync request right after the push: request → new DAG listed."""
    new = f"bench_repo_request_{i}"
    upstream.write(dag_id((i + 1) % upstream.files), revision=2000 + i)
    upstream.write(new)
    upstream.push(f"request {i}: change one DAG, add {new}")
    requested = time.monotonic()
    _request_sync(server)
    return {"reposync.request": _wait_listed(server, new) - requested}


def reparsed(server: Standalone, upstream: Upstream, i: int) -> dict[str, float]:
    """A commit changing one file (sync requested): how many DAGs were parsed again, seen as
    a new `last_parsed_at`. Counted once the commit is fully processed (an unchanged DAG moved
    to the new commit, which the processor does after storing what it parsed)."""
    changed, unchanged = dag_id((i + 2) % upstream.files), dag_id((i + 3) % upstream.files)
    before = {d: v["last_parsed_at"] for d, v in _dags(server).items()}
    upstream.write(changed, revision=3000 + i)
    sha = upstream.push(f"reparse {i}: change {changed} only")
    _request_sync(server)

    def processed() -> bool:
        first, other = _dag(server, changed), _dag(server, unchanged)
        moved = first is not None and first["last_parsed_at"] != before[changed]
        return moved and other is not None and other["code_version"] == sha

    wait_until(processed, 60.0, f"commit {sha[:12]} processed", every=0.01)
    after = _dags(server)
    moved = [d for d, at in before.items() if d in after and after[d]["last_parsed_at"] != at]
    return {"reposync.reparsed": float(len(moved))}


def in_server(plan: Plan, workdir: Path, upstream: Upstream, results: Results) -> None:
    """Steps 1-3 and 5 against one standalone, stopped whatever happens."""
    home, folder = workdir / "home", workdir / "folder"
    home.mkdir(parents=True)
    folder.mkdir()  # `--dags` stays empty: the repository's DAGs are the only ones
    (home / "brisa.toml").write_text(config(upstream.url, plan.repo_period))
    with Standalone(home, folder) as server:
        results.add(first_publish(server, plan.repo_files))
        for i in range(plan.repo_commits):
            results.add(new_commit(server, upstream, i, plan.repo_period))
        for i in range(plan.repo_requests):
            results.add(requested_commit(server, upstream, i))
        for i in range(plan.repo_reparses):
            results.add(reparsed(server, upstream, i))


def syncer_passes(plan: Plan, workdir: Path, upstream: Upstream, results: Results) -> None:
    """Step 4, without a server: a RepoSyncer built like `brisa.system` builds it, on a fresh
    repos root; pass durations (`SyncResult.duration`). Each no-op pass is a sample."""
    from brisa.repos.config import RepoSettings
    from brisa.repos.sync import RepoSyncer

    repo = RepoSettings(
        name=NAME, url=upstream.url, branch="main", subdir=SUBDIR, period=plan.repo_period
    )
    syncer = RepoSyncer(repo, workdir / "repos", objects=None, environ={})
    results.add({"reposync.first_pass": _timed(syncer, published=True)})
    for _ in range(plan.repo_noop_passes):
        results.add({"reposync.noop_pass": _timed(syncer, published=False) * 1000})
    upstream.write(dag_id(0), revision=4000)
    upstream.push("one file changed, for the syncer")
    results.add({"reposync.publish_pass": _timed(syncer, published=True) * 1000})


def _timed(syncer: RepoSyncer, *, published: bool) -> float:
    """One pass, in seconds; it must have published a commit or not, as expected."""
    result = syncer.sync()
    if result.error or result.published != published:
        raise RuntimeError(f"unexpected sync pass (published={published} wanted): {result}")
    return float(result.duration)


def run(plan: Plan, workdir: Path, results: Results) -> None:
    """W8: add its figures to `results` as each is measured."""
    base = workdir / "repo-sync"
    upstream = Upstream(base / "upstream", plan.repo_files)
    in_server(plan, base, upstream, results)
    syncer_passes(plan, base / "syncer", upstream, results)
