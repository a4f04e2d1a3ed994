"""Story 52 (UI.md B.2): a run is pinned to commit A; commit B is parsed after it. The clear
dialog offers "the run's commit A" (the default) and "the latest commit B"; with the default
the new try runs A's code and its details show A; with the latest, the run is re-pinned to B
and the next try runs B's code and shows B (docs/repositories.md "Clearing on the latest
commit"). Against a standalone syncing a local git repository."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing import browser as chromium
from support.gitserver import Upstream
from support.standalone import Standalone

TEAM = "pinned"
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", ROOT / ".artifacts")) / "ui"
A = """from brisa import DAG, task

with DAG("pinned") as dag:

    @task(retries=0)
    def extract():
        return 1

    @task(retries=0)
    def load(x):
        raise RuntimeError("commit A's load is broken")

    load(extract())
"""
B = A.replace('raise RuntimeError("commit A\'s load is broken")', 'return "fixed in B"')


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Upstream:
    upstream = Upstream(tmp_path_factory.mktemp("ui-pin-remote"), name=TEAM)
    upstream.commit({"dags/pinned.py": A}, "A: load is broken")
    return upstream


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, repo: Upstream) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("ui-pin-home")
    (home / "brisa.toml").write_text(
        f'[repos.{TEAM}]\nurl = "{repo.url}"\nbranch = "main"\nsubdir = "dags"\n'
        'period = "1h"\ntimeout = "20s"\n'
    )
    server = Standalone(home, copy_examples=False).start(timeout=60)
    try:
        server.wait_for_dag("pinned", 60, team=TEAM)
        yield server
    finally:
        server.stop()


def test_clear_offers_the_runs_commit_then_the_latest_one(
    server: Standalone, repo: Upstream, new_page: Any
) -> None:
    dag = server.dag_path("pinned", TEAM)
    sha_a = str(server.get(dag)["code_version"])
    run_id = str(server.post(f"{dag}/runs")["run_id"])
    server.wait_for_run("pinned", run_id, 60, team=TEAM)
    sha_b = repo.commit({"dags/pinned.py": B}, "B: load fixed")
    server.post(f"/api/v1/repos/{TEAM}/sync")
    server.wait_until(lambda: server.get(dag)["code_version"] == sha_b, 30, "the DAG on B")
    run_api = f"{dag}/runs/{urllib.parse.quote(run_id, safe='')}"
    task_page = f"/teams/{TEAM}/dags/pinned/runs/{urllib.parse.quote(run_id, safe='')}/tasks/load"

    def load_try() -> dict[str, Any]:
        return next(t for t in server.get(run_api)["tasks"] if t["task_id"] == "load")

    def clear(choice: str | None) -> None:
        page.goto(server.url + task_page)
        page.wait_for_function("() => window.htmx !== undefined")
        page.get_by_role("button", name="Clear…").click()
        dialog = page.locator("#action-dialog")
        dialog.wait_for()
        run_choice = dialog.get_by_label(f"the run's commit {sha_a[:10]}")
        latest = dialog.get_by_label(f"the latest commit {sha_b[:10]}")
        assert run_choice.is_checked() and not latest.is_checked()  # the default: A
        assert f"On the run's commit {sha_a[:10]}" in dialog.locator(".preview-commit").inner_text()
        if choice == "latest":
            latest.check()
            page.wait_for_function(
                "() => document.querySelector('.preview-commit').textContent.includes('latest')"
            )
        assert not [v["id"] for v in chromium.axe_violations(page)]
        dialog.screenshot(path=ARTIFACTS / f"story-52-dialog-{choice or 'default'}.png")
        page.locator("#ad-confirm").click()
        dialog.wait_for(state="detached")

    page = new_page(bypass_csp=True)
    assert load_try()["state"] == "failed"
    clear(None)
    server.wait_until(lambda: load_try()["try_number"] == 2, 30, "try 2 of load")
    server.wait_until(lambda: load_try()["state"] == "failed", 60, "try 2 to fail on A")
    page.goto(server.url + task_page + "/attempts/2?tab=details")
    assert page.locator(".attempt-commit").inner_text().strip() == sha_a[:10]
    assert server.get(run_api)["code_version"] == sha_a

    clear("latest")
    server.wait_until(lambda: load_try()["state"] == "success", 60, "try 3 to succeed on B")
    assert server.get(run_api)["code_version"] == sha_b
    attempts = server.get(f"{run_api}/tasks/load/attempts")
    commits = [a["code_version"] for a in attempts["attempts"]]
    assert commits == [sha_a, sha_a, sha_b]
    page.goto(server.url + task_page + "/attempts/2?tab=details")
    assert re.fullmatch(
        rf"{sha_a[:10]} \(the run is now on {sha_b[:10]}\)",
        page.locator(".attempt-commit").inner_text().strip(),
    )
    page.goto(server.url + task_page + "/attempts/3?tab=details")
    assert page.locator(".attempt-commit").inner_text().strip() == sha_b[:10]
    audit = server.get(f"/api/v1/audit?action=clear&team={TEAM}")["entries"]
    assert [e["detail"].get("commit") for e in audit] == [sha_b, None]
