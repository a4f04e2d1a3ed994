"""The list pages in a browser (UI.md A.2.1, A.2.2, A.2.9, A.2.11, A.2.12): Overview, DAG list,
runs and task-instance search, import errors, repositories with "Sync now", the jump box.

One standalone for the module: a DAG folder (team `default`) with a DAG that fails, one that
succeeds and one that has not run yet, plus a git repository (team `analytics`, a `file://`
bare repository with a broken file) and a repository that cannot be fetched (team `empty`).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", ROOT / ".artifacts")) / "ui"
DAG = """
from datetime import datetime, timezone
from brisa import DAG, task

with DAG("{dag_id}", tags={tags!r}, schedule={schedule!r}, description="{dag_id} for the list",
         start_date=datetime(2030, 1, 1, tzinfo=timezone.utc)):

    @task(retries=0)
    def work() -> str:
        {body}
        return "done"

    work()
"""
CONFIG = """
[repos.forge]
url = "file://{origin}"
team = "analytics"
subdir = "dags"
period = "1h"

[repos.nothing]
url = "file://{missing}"
team = "empty"
period = "1h"

[repos.ticking]
url = "file://{ticking}"
team = "ticking"
subdir = "dags"
period = "2s"
"""


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
    done = subprocess.run(
        ["git", *identity, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Origin:
    def __init__(self, root: Path) -> None:
        self.bare, self.work = root / "origin.git", root / "work"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        git("clone", "--quiet", str(self.bare), str(self.work))
        git("checkout", "--quiet", "-B", "main", cwd=self.work)

    def push(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def dag_file(dag_id: str, tags: list[str], schedule: str | None = None, fail: bool = False) -> str:
    body = 'raise RuntimeError("boom")' if fail else "pass"
    return DAG.format(dag_id=dag_id, tags=tags, schedule=schedule, body=body)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    forge = Origin(tmp_path_factory.mktemp("forge"))
    files = {
        "dags/hello.py": dag_file("hello", ["forge"]),
        "dags/broken.py": "from brisa import DAG\n\ndef oops(:\n",
    }
    forge.push(files, "hello and a broken file")
    return forge


@pytest.fixture(scope="module")
def ticking(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    """A repository synced every 2 s (story 56 waits for its periodic sync); no DAG in it, so
    the other tests' lists are as they were."""
    remote = Origin(tmp_path_factory.mktemp("ticking"))
    remote.push({"dags/README.md": "DAGs go here.\n"}, "a folder for DAGs")
    return remote


@pytest.fixture(scope="module")
def lists_server(
    tmp_path_factory: pytest.TempPathFactory, origin: Origin, ticking: Origin
) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("lists-home")
    dags = home / "dags"
    dags.mkdir()
    (dags / "boom.py").write_text(dag_file("boom", ["tag-a", "shared"], fail=True))
    (dags / "fine.py").write_text(dag_file("fine", ["tag-b", "shared"]))
    (dags / "later.py").write_text(dag_file("later", ["tag-c"], schedule="30 6 * * *"))
    missing = home / "missing.git"
    config = CONFIG.format(origin=origin.bare, missing=missing, ticking=ticking.bare)
    (home / "brisa.toml").write_text(config)
    with Standalone(home, dags) as server:
        server.start(timeout=60)
        for dag_id in ("boom", "fine", "later"):
            server.wait_for_dag(dag_id)
        server.wait_for_dag("hello", team="analytics")
        errors = lambda: server.get("/api/v1/import-errors")["import_errors"]  # noqa: E731
        server.wait_until(errors, 20, "the broken file's import error")
        for dag_id in ("boom", "fine"):
            run = server.trigger(dag_id)
            server.wait_for_run(dag_id, run["run_id"])
        yield server


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_list_page_has_its_json_twin(lists_server: Standalone) -> None:
    """B.2 story 3: `/api/v1` + a list page's path answers the same list as JSON."""
    for path in ("/dags", "/teams/default/dags", "/runs", "/task-instances", "/repos"):
        assert status_of(lists_server.url + path) == 200, path
        assert isinstance(lists_server.get("/api/v1" + path), dict), path
    assert lists_server.get("/api/v1/import-errors")["import_errors"]
    assert lists_server.get("/api/v1/repos/forge")["name"] == "forge"


def test_unknown_objects_and_bad_filters_answer_without_a_trace(lists_server: Standalone) -> None:
    """B.2 story 4 (what this branch can show: one team scope): an unknown DAG's row fragment
    and an unknown repository are 404; a malformed filter is a 400 page, never a 500."""
    url = lists_server.url
    assert status_of(url + "/_/dags/row/default/nope") == 404
    assert status_of(url + "/repos/nope") == 404
    for bad in (
        "/dags?limit=x",
        "/dags?after=%%%",
        "/runs?from=yesterday",
        "/task-instances?try_gt=a",
    ):
        assert status_of(url + bad) == 400, bad


def test_row_fragment_keeps_the_version_contract(lists_server: Standalone) -> None:
    """B.2 story 9 (the row's half): re-fetching an unchanged row answers 204 No Content."""
    row = lists_server.url + "/_/dags/row/default/fine"
    with urllib.request.urlopen(row, timeout=10) as response:
        html = response.read().decode()
    version = re.search(r'"v": "([0-9a-f]{16})"', html)
    assert version is not None
    assert status_of(f"{row}?v={version.group(1)}") == 204
    assert status_of(f"{row}?v=0000000000000000") == 200


def test_dag_list_failed_tab_tag_filter_and_recent_runs(
    lists_server: Standalone, page: Any
) -> None:
    """B.2 stories 6, 7 and 75: tag typeahead and filter, the Failed tab, a DAG without runs;
    the search filters while typing and keeps the URL in step (A.1-2)."""
    page.goto(lists_server.url + "/dags")
    rows = page.locator("tr.dag-row")
    assert rows.count() == 4
    later = page.locator("tr.dag-row", has_text="later")
    assert "No runs yet" in later.inner_text()
    assert later.locator(".next time").inner_text().startswith("in ")  # 2030-01-01 06:30
    boom = page.locator("tr.dag-row", has_text="boom")
    assert ": failed, " in boom.locator(".bar").get_attribute("aria-label")
    failed_tab = page.get_by_role("navigation", name="Quick filters").get_by_role(
        "link", name=re.compile("^Failed")
    )
    count = int(failed_tab.locator(".count").inner_text())
    failed_tab.click()
    page.wait_for_url(re.compile(r"state=failed"))
    assert rows.count() == count == 1
    assert "failed" in rows.first.locator(".last").inner_text()
    page.goto(lists_server.url + "/dags")
    page.get_by_label("Search").press_sequentially("boo")  # filters as one types
    page.wait_for_url(re.compile(r"/dags\?q=boo$"))
    page.wait_for_function("() => document.querySelectorAll('tr.dag-row').length === 1")
    page.goto(lists_server.url + "/dags")
    tag = page.get_by_label("Tag")
    tag.press_sequentially("tag-")
    page.wait_for_function("() => document.querySelectorAll('#tag-options option').length >= 3")
    assert "tag-b" in page.locator("#tag-options option").evaluate_all("os => os.map(o => o.value)")
    tag.fill("shared")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"tag=shared"))
    assert rows.count() == 2
    for index in range(rows.count()):
        assert "shared" in rows.nth(index).locator(".tags").inner_text()


def test_pause_shows_paused_and_undo_restores_active(lists_server: Standalone, page: Any) -> None:
    """B.2 story 8: the switch reads Paused with an Undo toast; Undo restores Active; the
    audit page shows both actions with the user's name (`api` until users exist)."""
    page.goto(lists_server.url + "/dags?q=fine")
    toggle = page.locator("tr.dag-row", has_text="fine").locator("button.toggle")
    assert toggle.text_content().startswith("Active")

    # The pause is done at once, its answer held back until the live refresh of the row (its
    # `dag:` event) has come: the answer and its toast must not be lost to that refresh.
    def late(route: Any) -> None:
        answer = route.fetch()
        time.sleep(2.5)
        route.fulfill(response=answer)

    page.route("**/_/dags/pause/**", late)
    toggle.click()
    page.wait_for_function(
        "() => document.querySelector('tr.dag-row button.toggle').textContent.startsWith('Paused')"
    )
    assert lists_server.find_dag("fine")["is_paused"] is True
    toast = page.locator("#toasts .toast")
    assert "paused" in toast.inner_text()
    toast.get_by_role("button", name="Undo").click()
    page.wait_for_function(
        "() => document.querySelector('tr.dag-row button.toggle').textContent.startsWith('Active')"
    )
    assert lists_server.find_dag("fine")["is_paused"] is False

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    page.wait_for_url(re.compile(r"/audit$"))
    rows = page.locator("table.audit tbody tr", has_text="default/fine")
    assert [r.locator(".audit-action").inner_text() for r in rows.all()[:2]] == [
        "unpause",
        "pause",
    ]
    for row in rows.all()[:2]:
        assert row.locator(".audit-user").inner_text() == "api"
        assert "✓ ok" in row.locator(".audit-outcome").inner_text()
        assert "UI" in row.inner_text() and "127.0.0.1" in row.inner_text()
    rows.first.get_by_role("link", name="default/fine").click()
    page.wait_for_url(re.compile(r"/teams/default/dags/fine$"))
    page.go_back()
    page.get_by_label("Action").select_option("pause")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/audit\?.*action=pause"))
    assert {
        r.locator(".audit-action").inner_text() for r in page.locator("table.audit tbody tr").all()
    } == {"pause"}
    page.goto(lists_server.url + "/audit")  # the story's final state, for the screenshot


def test_nothing_matches_shows_chips_and_an_empty_team_its_repository(
    lists_server: Standalone, page: Any
) -> None:
    """B.2 story 10: removable chips when filters match nothing; an empty team's repository."""
    page.goto(lists_server.url + "/dags?q=zzz&tag=shared")
    assert page.get_by_text("No DAG matches these filters").is_visible()
    page.get_by_role("link", name="Remove filter q zzz").click()
    page.wait_for_url(re.compile(r"/dags\?tag=shared$"))
    assert page.locator("tr.dag-row").count() == 2
    page.goto(lists_server.url + "/teams/empty/dags")
    assert page.get_by_text("Team empty has no DAG").is_visible()
    assert "last sync failed" in page.locator(".empty").inner_text()
    page.get_by_role("link", name="Repositories").last.click()
    page.wait_for_url(lists_server.url + "/repos")


def test_jump_box_goes_to_a_run_and_to_a_dag(lists_server: Standalone, page: Any) -> None:
    """B.2 story 5: `/`, a run id, Enter → that run's page; a DAG id → the DAG's page."""
    run = lists_server.get("/api/v1/runs?dag=boom")["runs"][0]
    page.goto(lists_server.url + "/runs")
    page.keyboard.press("/")
    page.keyboard.type(run["run_id"])
    page.keyboard.press("Enter")
    quoted = urllib.parse.quote(run["run_id"], safe="")
    page.wait_for_url(lists_server.url + f"/teams/default/dags/boom/runs/{quoted}")
    page.goto(lists_server.url + "/")
    page.keyboard.press("/")
    page.keyboard.type("analytics/hello")
    page.keyboard.press("Enter")
    page.wait_for_url(lists_server.url + "/teams/analytics/dags/hello")


def test_overview_counts_link_to_the_lists_they_count(lists_server: Standalone, page: Any) -> None:
    """A.2.1: the failed-runs count links to the runs it counts; import errors have a banner."""
    page.goto(lists_server.url + "/")
    assert page.get_by_role("alert").get_by_role("link", name=re.compile("failed to import"))
    failed = page.locator(".card", has_text="Failed runs").get_by_role("link")
    count = int(failed.inner_text())
    failed.click()
    page.wait_for_url(re.compile(r"/runs\?state=failed"))
    assert page.locator("tbody tr").count() == count >= 1
    page.get_by_role("link", name="Task instances").click()
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"state=failed"))
    assert "work" in page.locator("tbody").inner_text()


def test_import_errors_show_file_line_commit_and_kind(
    lists_server: Standalone, origin: Origin, page: Any
) -> None:
    """B.2 stories 56 and 57 (the list's half): file:line, commit and kind "syntax"."""
    sha = lists_server.get("/api/v1/repos/forge")["current_sha"]
    page.goto(lists_server.url + "/import-errors?repo=forge")
    section = page.locator("section.import-error")
    assert section.count() == 1
    text = section.inner_text()
    assert "broken.py:3" in text and "syntax" in text and sha[:7] in text
    assert "first seen" in text and "last seen" in text  # A.2.11
    page.goto(lists_server.url + "/import-errors?q=nothing-like-this")
    assert "No import error matches these filters" in page.locator(".empty").inner_text()
    assert "Last parse" in page.locator(".empty").inner_text()


def test_sync_now_shows_the_new_commit(lists_server: Standalone, origin: Origin, page: Any) -> None:
    """B.2 story 58: "Sync now" shows progress, then the new SHA, and the commit's row its
    parse outcome (the DAG it added; the file still failing), and the current commit above
    agrees, without a reload."""
    page.goto(lists_server.url + "/repos/forge")
    sha = origin.push({"dags/more.py": dag_file("more", ["forge"])}, "one more DAG")
    page.get_by_role("button", name="Sync now").click()
    page.locator(".new-sha").wait_for()
    assert page.locator(".new-sha").inner_text() == sha[:7]
    row = page.locator(f"tr[data-sha='{sha}']")
    assert row.locator(".commit-dags").inner_text() == "+ 1 added (more)"
    assert row.locator(".commit-errors").inner_text() == "✕ 1 failing broken.py:3"
    assert "current" in row.inner_text()
    # the facts above agree with the rows without a reload (they came with the sync's status)
    assert page.locator("#current-sha code").inner_text() == sha
    commits = lists_server.get("/api/v1/repos/forge")["commits"]
    assert (commits[0]["code_version"], commits[0]["added"]) == (sha, ["more"])
    page.screenshot(path=ARTIFACTS / "story-58-commit-rows.png", full_page=True)
    page.goto(lists_server.url + "/repos")
    assert sha[:7] in page.locator("tr", has_text="forge").inner_text()
    assert "failed" in page.locator("tr", has_text="nothing").inner_text()


def test_an_import_error_appears_after_the_periodic_sync(
    lists_server: Standalone, ticking: Origin, page: Any
) -> None:
    """B.2 story 56, its first step as written: a pushed syntax error appears on the
    import-errors page with file, line, commit and kind after the repository's own periodic
    sync (every 2 s here): nobody presses "Sync now" (the audit record, where every "Sync
    now" is written, has none). The page is read again until it shows the error, as a person
    would reload it; how soon is not timed here (no timed assertions in tests)."""
    first = lists_server.wait_until(
        lambda: lists_server.get("/api/v1/repos/ticking")["current_sha"], 30, "the first sync"
    )
    bad = ticking.push({"dags/typo.py": "from brisa import DAG\n\n\ndef oops(:\n"}, "a typo")
    deadline = time.monotonic() + 60
    page.goto(lists_server.url + "/import-errors?repo=ticking")
    while page.locator("section.import-error").count() == 0:
        assert time.monotonic() < deadline, "the error never appeared"
        page.wait_for_timeout(500)
        page.reload()
    text = page.locator("section.import-error").inner_text()
    assert "typo.py:4" in text and "syntax" in text and bad[:7] in text, text
    page.screenshot(path=ARTIFACTS / "story-56-after-periodic-sync.png", full_page=True)
    synced = lists_server.get("/api/v1/repos/ticking")
    assert synced["current_sha"] == bad != first
    asked = lists_server.get("/api/v1/audit?action=sync_now")
    assert all("ticking" not in str(entry) for entry in asked["entries"]), asked


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_list_pages_pass_axe(lists_server: Standalone, new_page: Any, scheme: str) -> None:
    """A.6: no serious or critical axe violation on the list pages, in both themes."""
    page = new_page(bypass_csp=True, color_scheme=scheme)
    paths = ["/", "/dags", "/import-errors", "/repos/forge", "/audit"]
    if scheme == "light":  # plain tables, the same styles in both themes
        paths += ["/runs", "/task-instances"]
    for path in paths:
        page.goto(lists_server.url + path)
        assert chromium.axe_violations(page) == [], path


def test_a_new_dag_shows_a_bar_not_a_reshuffle(lists_server: Standalone, page: Any) -> None:
    """UI.md A.2.2 Refresh: while the DAG list is open, a DAG added to the folder does not
    move the rows under the cursor; "1 new DAG — show" appears (told by the page's event
    stream) and "show" reads the list again with it."""
    page.goto(lists_server.url + "/teams/default/dags")
    page.wait_for_function(
        "() => document.getElementById('live-indicator').dataset.state === 'live'"
    )
    before = page.locator("tr.dag-row").all_inner_texts()
    (lists_server.dags / "aaa_new.py").write_text(dag_file("aaa_new", ["fresh"]))
    lists_server.wait_for_dag("aaa_new", timeout=30)
    bar = page.locator("#new-bar .new-bar")
    bar.wait_for(timeout=15_000)
    assert bar.inner_text() == "1 new DAG — show"
    assert page.locator("tr.dag-row").all_inner_texts() == before  # nothing reshuffled
    page.screenshot(path=ARTIFACTS / "test_new_dags_bar.png")
    bar.get_by_role("link", name="show").click()
    page.locator("tr.dag-row", has_text="aaa_new").wait_for()
    assert page.locator("#new-bar .new-bar").count() == 0


def test_a_new_run_shows_a_bar_instead_of_reordering(lists_server: Standalone, page: Any) -> None:
    """UI.md A.2.9 Refresh: the runs list shows "1 new run — show" for a run triggered while
    it is open (matching its filter) and keeps its rows; "show" lists it first."""
    page.goto(lists_server.url + "/runs?dag=fine")
    page.wait_for_function(
        "() => document.getElementById('live-indicator').dataset.state === 'live'"
    )
    before = page.locator("tbody tr").all_inner_texts()
    lists_server.trigger("boom")  # not in the filter: no bar
    run = lists_server.trigger("fine")
    bar = page.locator("#new-bar .new-bar")
    bar.wait_for(timeout=15_000)
    assert bar.inner_text() == "1 new run — show"
    assert page.locator("tbody tr").all_inner_texts() == before
    page.screenshot(path=ARTIFACTS / "test_new_runs_bar.png")
    bar.get_by_role("link", name="show").click()
    page.locator("tbody tr", has_text=run["run_id"]).wait_for()
    assert run["run_id"] in page.locator("tbody tr").first.inner_text()
    lists_server.wait_for_run("fine", run["run_id"])


def test_x_selects_the_focused_row_and_shift_click_a_range(
    lists_server: Standalone, page: Any
) -> None:
    """UI.md A.2.9 and A.4.4: on the task-instance search, `j` moves the row focus, `x` ticks
    (and unticks) the focused row, and a shift-click ticks every row between the last box
    clicked and this one; the bulk buttons count them."""
    for _ in range(2):
        run = lists_server.trigger("fine")
        lists_server.wait_for_run("fine", run["run_id"])
    page.goto(lists_server.url + "/task-instances?dag=fine")
    boxes = page.locator(".ti-pick")
    assert boxes.count() >= 4
    count = page.locator("#bulk-count")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert count.inner_text() == "1 selected" and boxes.nth(0).is_checked()
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert count.inner_text() == "2 selected" and boxes.nth(1).is_checked()
    page.keyboard.press("x")
    assert count.inner_text() == "1 selected" and not boxes.nth(1).is_checked()
    assert page.locator("tr.row-focus").count() == 1
    page.screenshot(path=ARTIFACTS / "test_x_selects_rows.png")
    boxes.nth(0).uncheck()
    boxes.nth(0).click()
    boxes.nth(3).click(modifiers=["Shift"])
    assert [boxes.nth(i).is_checked() for i in range(4)] == [True] * 4
    assert count.inner_text() == f"{4} selected"
    assert not page.get_by_role("button", name="Clear selected…").is_disabled()
    page.screenshot(path=ARTIFACTS / "test_shift_click_range.png")


def test_a_fixed_file_shows_resolved_in_the_fixing_commit(
    lists_server: Standalone, origin: Origin, page: Any
) -> None:
    """B.2 story 56 (last in the module: it fixes the broken file): a pushed syntax error is
    listed with file, line, commit and kind, the DAG list badges its DAG; after a fixing
    commit the error is gone and "resolved in <sha>" is shown; the commits' rows say both."""
    good = dag_file("flaky", ["forge"])
    origin.push({"dags/flaky.py": good}, "flaky DAG")
    lists_server.post("/api/v1/repos/forge/sync")
    lists_server.wait_until(
        lambda: lists_server.find_dag("flaky", "analytics") is not None, 30, "flaky"
    )
    bad = origin.push({"dags/flaky.py": good.replace("def work()", "def work(:")}, "typo")
    page.goto(lists_server.url + "/repos/forge")
    page.get_by_role("button", name="Sync now").click()
    page.locator(".new-sha").wait_for()
    assert "flaky.py" in page.locator(f"tr[data-sha='{bad}'] .commit-errors").inner_text()
    page.goto(lists_server.url + "/import-errors?q=flaky")
    section = page.locator("section.import-error")
    assert "flaky.py:" in section.inner_text() and "syntax" in section.inner_text()
    assert bad[:7] in section.inner_text()
    page.goto(lists_server.url + "/dags?q=flaky")
    assert page.locator("tr.dag-row", has_text="flaky").locator(".badge-error").count() == 1

    fix = origin.push({"dags/flaky.py": good, "dags/broken.py": dag_file("mended", [])}, "fix")
    page.goto(lists_server.url + "/repos/forge")
    page.get_by_role("button", name="Sync now").click()
    page.locator(".new-sha").wait_for()
    fixed_row = page.locator(f"tr[data-sha='{fix}']")
    assert fixed_row.locator(".commit-errors").inner_text() == (
        "✓ none (resolved broken.py, flaky.py)"
    )
    assert fixed_row.locator(".commit-dags").inner_text() == "+ 1 added (mended)"
    page.goto(lists_server.url + "/import-errors?repo=forge")
    assert page.locator("section.import-error").count() == 0
    resolved = page.locator(".resolved-list li")
    assert sorted(r.split(" in ")[0] for r in resolved.all_inner_texts()) == [
        "broken.py",
        "flaky.py",
    ]
    assert all(f"resolved in {fix[:7]}" in text for text in resolved.all_inner_texts())
    answer = lists_server.get("/api/v1/import-errors")
    assert {(r["filename"], r["resolved_in"]) for r in answer["resolved"]} == {
        ("broken.py", fix),
        ("flaky.py", fix),
    }
