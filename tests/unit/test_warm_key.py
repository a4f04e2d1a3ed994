"""Which launches carry a warm key (`[executor] warm_imports`, ADRs 0014 and 0023), and that the
key names the code exactly as the execution API will hand it to the worker."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from planner_builders import T0, build_spec, make_run

from brisa.control.execution import code_location
from brisa.core.records import WorkItem
from brisa.repos.config import RepoSettings
from brisa.settings import Settings, load
from brisa.system import System
from brisa.worker.warmed import WarmKey

SHA = "a" * 40
REPO = RepoSettings(name="r", url="https://git.example/r.git", subdir="dags", team="data")


def settings(tmp_path: Path, **executor: object) -> Settings:
    base = load(tmp_path, environ={})
    return replace(base, executor=replace(base.executor, **executor), repos=(REPO,))


def key(s: Settings, code_version: str = SHA) -> WarmKey | None:
    spec = build_spec("etl")
    run = replace(make_run(spec), repo="r", code_version=code_version)
    return System(settings=s).warm_key(run, spec)


def test_a_key_by_default_and_none_once_warm_imports_is_off(tmp_path: Path) -> None:
    assert key(settings(tmp_path)) is not None
    assert key(settings(tmp_path, warm_imports=False)) is None


def test_no_key_with_run_as_user_nor_spawn(tmp_path: Path) -> None:
    assert key(settings(tmp_path, warm_imports=True, run_as_user="nobody")) is None
    assert key(settings(tmp_path, warm_imports=True, start_method="spawn")) is None


def test_a_run_of_the_dag_folder_is_keyed_without_a_commit(tmp_path: Path) -> None:
    found = key(settings(tmp_path), code_version="")
    assert found is not None and found.code.sha == ""


def test_the_key_is_the_team_file_and_code_the_worker_will_be_handed(tmp_path: Path) -> None:
    found = key(settings(tmp_path, warm_imports=True))
    spec = build_spec("etl")
    task = next(iter(spec.tasks.values()))
    item = WorkItem("data", "etl", task.task_id, "r1", 1, T0, T0, T0, {}, spec.fileloc, SHA,
                    task, {}, repo="r")  # fmt: skip
    assert found == WarmKey("data", spec.fileloc, code_location(item, REPO))
    assert found is not None and found.matches(replace(item, code=code_location(item, REPO)))
    assert not found.matches(replace(item, team="ops", code=code_location(item, REPO)))
