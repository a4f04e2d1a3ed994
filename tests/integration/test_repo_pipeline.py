"""One repository's pipeline with a real git remote, the real syncer, real parsing children
and a real SQLite store: what a commit does to the DAGs a user sees."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brisa.dagprocessor.pipeline import Due, RepoPipeline
from brisa.dagprocessor.processor import DagProcessor
from brisa.repos.config import RepoSettings
from brisa.repos.sync import RepoSyncer, SyncResult
from brisa.store import Store, open_store
from support.gitserver import Upstream

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def dag_file(dag_id: str, extra: str = "") -> str:
    return (
        "from brisa import DAG, shell\n"
        f"{extra}\n"
        f'with DAG("{dag_id}"):\n    shell("hello", "echo hello")\n'
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'brisa.db'}", migrate=True)
    yield store
    store.close()


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    repo = Upstream(tmp_path / "remote", name="team")
    repo.commit({"dags/a.py": dag_file("a"), "dags/b.py": dag_file("b"), "README": "hi"})
    return repo


def pipeline(tmp_path: Path, upstream: Upstream, store: Store) -> RepoPipeline:
    repo = RepoSettings(name="team", url=upstream.url, subdir="dags", timeout=20.0)
    root = tmp_path / "repos"
    syncer = RepoSyncer(repo, root, objects=None, environ={})
    processor = DagProcessor(store, root, team="team", repo="team", clock=lambda: NOW)
    return RepoPipeline(repo, syncer, processor, store, clock=lambda: NOW)


def commits(store: Store) -> dict[str, str]:
    return {d.dag_id: d.code_version for d in store.list_dags("team")}


def test_a_commit_reparses_only_what_changed_and_moves_every_dag(
    tmp_path: Path, upstream: Upstream, store: Store
) -> None:
    line = pipeline(tmp_path, upstream, store)
    first = upstream.head()
    line.pass_once()
    assert commits(store) == {"a": first, "b": first}
    assert store.get_repo("team").current_sha == first

    second = upstream.commit({"dags/b.py": dag_file("b", "# edited")})
    parsed = []
    real = line.processor._process

    def counting(current: dict, force: bool = False) -> int:  # type: ignore[type-arg]
        count = real(current, force)
        parsed.append(count)
        return count

    line.processor._process = counting  # type: ignore[method-assign]
    line.pass_once()
    assert parsed == [1]  # b.py only
    assert commits(store) == {"a": second, "b": second}

    third = upstream.commit({"README": "only docs"})
    line.pass_once()
    assert parsed == [1, 0]
    assert commits(store) == {"a": third, "b": third}


def test_a_file_broken_in_a_commit_keeps_its_dags_on_the_last_good_commit(
    tmp_path: Path, upstream: Upstream, store: Store
) -> None:
    line = pipeline(tmp_path, upstream, store)
    good = upstream.head()
    line.pass_once()
    bad = upstream.commit({"dags/b.py": "from brisa import DAG\nraise RuntimeError('oops')\n"})
    line.pass_once()
    assert commits(store) == {"a": bad, "b": good}
    [error] = store.list_import_errors("team")
    assert (error.filename, error.code_version, error.repo) == ("b.py", bad, "team")
    assert "oops" in error.message

    later = upstream.commit({"dags/a.py": dag_file("a", "# again")})
    line.pass_once()
    assert commits(store) == {"a": later, "b": good}  # still broken in `later`
    assert store.list_import_errors("team")[0].code_version == later
    assert good in store.pinned_code_versions("team")  # so its snapshot is kept

    fixed = upstream.commit({"dags/b.py": dag_file("b")})
    line.pass_once()
    assert commits(store) == {"a": fixed, "b": fixed}
    assert store.list_import_errors("team") == []


def test_a_changed_helper_module_reparses_every_dag_file(
    tmp_path: Path, upstream: Upstream, store: Store
) -> None:
    line = pipeline(tmp_path, upstream, store)
    upstream.commit({"dags/names.py": 'SUFFIX = "one"\n'})
    line.pass_once()
    upstream.commit(
        {
            "dags/c.py": "from brisa import DAG, shell\nfrom names import SUFFIX\n"
            'with DAG("c_" + SUFFIX):\n    shell("t", "true")\n'
        }
    )
    line.pass_once()
    assert "c_one" in commits(store)
    upstream.commit({"dags/names.py": 'SUFFIX = "two"\n'})
    line.pass_once()
    assert "c_two" in commits(store) and "c_one" not in commits(store)


def test_a_failing_sync_keeps_the_dags_and_counts_failures(
    tmp_path: Path, upstream: Upstream, store: Store
) -> None:
    line = pipeline(tmp_path, upstream, store)
    first = upstream.head()
    line.pass_once()
    # The branch is deleted on the remote (its HEAD now names no commit).
    subprocess.run(
        ["git", "--git-dir", str(upstream.bare), "update-ref", "-d", "refs/heads/main"],
        check=True,
    )
    result = line.pass_once()
    assert (result.kind, result.sha) == ("not_found", first)
    status = store.get_repo("team")
    assert (status.current_sha, status.consecutive_failures) == (first, 1)
    assert status.error_kind == "not_found" and status.last_error
    assert commits(store) == {"a": first, "b": first}


def test_retries_back_off_after_failures_and_the_period_returns_after_a_success() -> None:
    due, rng = Due(), random.Random(7)
    failed = SyncResult(None, False, "unreachable", "network", 0.01)
    ok = SyncResult("a" * 40, False, None, None, 0.01)
    waits = []
    for _ in range(5):
        due.after(failed, 30.0, 100.0, rng)
        waits.append(due.at - 100.0)
    assert waits[0] < 30.0 and waits == sorted(waits) and waits[-1] > 30.0
    due.after(ok, 30.0, 100.0, rng)
    assert (due.at, due.failures) == (130.0, 0)


def test_a_folder_repository_is_parsed_from_its_subdir_like_workers_read_it(
    tmp_path: Path,
) -> None:
    from brisa.settings import load
    from brisa.system import System

    (tmp_path / "src" / "dags").mkdir(parents=True)
    (tmp_path / "src" / "dags" / "a.py").write_text(dag_file("a"))
    (tmp_path / "src" / "setup.py").write_text("import brisa  # not a DAG file, outside subdir\n")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "brisa.toml").write_text(
        f'[repos.dev]\npath = "{tmp_path / "src"}"\nsubdir = "dags"\n'
    )
    system = System.create(load(tmp_path / "home", environ={}))
    try:
        [source] = system.settings.sources()
        assert system.processor(source).run_once() == 1
        [dag] = system.store.list_dags("dev")
        assert (dag.dag_id, dag.fileloc, dag.repo) == ("a", "a.py", "dev")
    finally:
        system.shutdown()
