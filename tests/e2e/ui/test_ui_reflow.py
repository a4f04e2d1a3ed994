"""Reflow and motion in a browser (UI.md A.6, stories 69 and 71): at 320 CSS pixels wide (what a
1280 px window shows at 400 % zoom, and more than 200 % of a phone) no page scrolls sideways;
only the grid, the log and tables scroll inside themselves. With reduced motion, nothing
animates. The repository page with its commit table needs a git repository: it has a
standalone of its own (`repo_server`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from brisa.testing.server import Standalone
from support.gitserver import Upstream
from support.standalone import Standalone as RepoStandalone

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", ROOT / ".artifacts")) / "ui"
DAG = "/teams/default/dags/shell_pipeline"
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")].filter((e) => {
    const box = e.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) return false;
    // Inside a pane that scrolls by itself (grid, log, code, tables): that is allowed.
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      const inside = p.getBoundingClientRect().right <= width + 1;
      if (inside && ["auto", "scroll", "hidden"].includes(s.overflowX)) return false;
    }
    return true;
  });
  return {scroll: document.documentElement.scrollWidth, width,
          wide: wide.slice(0, 5).map((e) => e.tagName + "." + e.className + "#" + e.id)};
}"""


REPO = "reflowing"
LONG_ID = "a_dag_whose_identifier_is_long_enough_to_need_wrapping_at_320_pixels"
DAG_FILE = """from brisa import DAG, shell

with DAG("{dag_id}"):
    shell("only", "true")
"""


@pytest.fixture(scope="module")
def repo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """A standalone syncing a git repository with two parsed commits: one that added a DAG
    with a long id and a file that fails, one that added another DAG."""
    upstream = Upstream(tmp_path_factory.mktemp("reflow-remote"), name=REPO)
    upstream.commit(
        {
            f"dags/{LONG_ID}.py": DAG_FILE.format(dag_id=LONG_ID),
            "dags/a_file_that_fails_to_import_with_a_long_name.py": (
                "from brisa import DAG\n\ndef oops(:\n"
            ),
        },
        "first",
    )
    home = tmp_path_factory.mktemp("reflow-home")
    (home / "brisa.toml").write_text(
        f'[repos.{REPO}]\nurl = "{upstream.url}"\nteam = "{REPO}"\nbranch = "main"\n'
        'subdir = "dags"\nperiod = "1h"\ntimeout = "20s"\n'
    )
    server = RepoStandalone(home, copy_examples=False).start(timeout=60)
    try:
        server.wait_for_dag(LONG_ID, 60, team=REPO)
        upstream.commit({"dags/second.py": DAG_FILE.format(dag_id=LONG_ID + "_two")}, "second")
        server.post(f"/api/v1/repos/{REPO}/sync")
        commits = lambda: len(server.get(f"/api/v1/repos/{REPO}")["commits"]) == 2  # noqa: E731
        server.wait_until(commits, 60, "the second commit parsed")
        yield server
    finally:
        server.stop()


def finished_run(server: Standalone) -> str:
    api = "/api/v1" + DAG + "/runs"
    done = [r for r in server.get(api)["runs"] if r["state"] == "success"]
    if done:
        return str(done[0]["run_id"])
    run_id = server.post(api)["run_id"]
    path = f"{api}/{quote(run_id, safe='')}"
    server.wait_until(lambda: server.get(path)["state"] == "success", 60, "the run succeeded")
    return str(run_id)


def test_no_page_scrolls_sideways_at_320_pixels(ui_server: Standalone, new_page: Any) -> None:
    """Story 71: overview, DAG list, DAG grid, run page, attempt log, trigger form, import
    errors, repositories, settings."""
    run = quote(finished_run(ui_server), safe="")
    page = new_page(viewport={"width": 320, "height": 640})
    paths = [
        "/", "/dags", DAG, f"{DAG}/runs/{run}", f"{DAG}/runs/{run}?tab=gantt",
        f"{DAG}/runs/{run}/tasks/count/attempts/1", f"{DAG}/trigger", "/runs",
        "/task-instances", "/import-errors", "/repos", "/settings", "/config", "/audit",
    ]  # fmt: skip
    found = {}
    for path in paths:
        page.goto(ui_server.url + path)
        seen = page.evaluate(OVERFLOW)
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", path.strip("/"))[-60:] or "overview"
        if seen["scroll"] > seen["width"]:
            found[path] = seen
        if seen["scroll"] > seen["width"] or path in (paths[1], paths[3]):
            page.screenshot(path=ARTIFACTS / f"reflow-320-{name}.png", full_page=True)
    assert found == {}


def test_the_repository_page_and_its_commits_reflow_at_320_pixels(
    repo_server: Standalone, new_page: Any
) -> None:
    """Story 71 for the repository page: its facts and "Recent commits" (SHAs, added DAG ids,
    failing files, long; each commit a block of labelled lines, so what it did is in view)
    and the import errors it links to (a long file name in the message wraps); the page never
    scrolls sideways."""
    page = new_page(viewport={"width": 320, "height": 640})
    found = {}
    for path in (f"/repos/{REPO}", f"/import-errors?repo={REPO}", "/repos"):
        page.goto(repo_server.url + path)
        if path == f"/repos/{REPO}":
            assert page.locator("tr[data-sha]").count() == 2
            assert "failing" in page.locator("tr[data-sha]").last.inner_text()
            # what each commit did is in view, not only after scrolling the table sideways
            for cell in page.locator(".commit-dags, .commit-errors").all():
                box = cell.bounding_box()
                assert box is not None and box["x"] + box["width"] <= 320, box
        if path.startswith("/import-errors"):
            assert page.locator("section.import-error").count() == 1
        seen = page.evaluate(OVERFLOW)
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", path.strip("/"))
        page.screenshot(path=ARTIFACTS / f"reflow-320-{name}.png", full_page=True)
        if seen["scroll"] > seen["width"]:
            found[path] = seen
    assert found == {}


def test_reduced_motion_means_nothing_animates(ui_server: Standalone, new_page: Any) -> None:
    """Story 69: with prefers-reduced-motion, a page with runs and live badges animates
    nothing."""
    run = quote(finished_run(ui_server), safe="")
    page = new_page(reduced_motion="reduce")
    for path in ("/", DAG, f"{DAG}/runs/{run}/tasks/count/attempts/1"):
        page.goto(ui_server.url + path)
        page.wait_for_function("() => window.htmx !== undefined")
        assert page.evaluate("() => document.getAnimations().length") == 0, path
