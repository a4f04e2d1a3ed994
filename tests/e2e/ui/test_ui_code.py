"""The Code page (UI.md A.2.10) against a standalone syncing a local git repository: the
snapshot of a run's commit, line anchors, the file tree, binary files, the compare view and
a snapshot that is not stored."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from brisa.testing import browser as chromium
from support.gitserver import Upstream
from support.standalone import Standalone

TEAM = "code"
V1 = """from brisa import DAG, task

with DAG("versions") as dag:

    @task
    def a():
        return 1

    @task
    def b(x):
        return x + 1

    b(a())
"""
V2 = V1.replace(
    "    b(a())\n",
    """    @task
    def c(y):
        return y * 2

    c(b(a()))
""",
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Upstream:
    base = tmp_path_factory.mktemp("ui-code-remote")
    upstream = Upstream(base, name=TEAM)
    upstream.commit(
        {"dags/versions.py": V1, "dags/logo.bin": "\0\1\2 binary", "README.md": "hi\n"}, "v1"
    )
    return upstream


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, repo: Upstream) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("ui-code-home")
    (home / "brisa.toml").write_text(
        f'[repos.{TEAM}]\nurl = "{repo.url}"\nbranch = "main"\nsubdir = "dags"\n'
        'period = "1h"\ntimeout = "20s"\n'
    )
    server = Standalone(home, copy_examples=False).start(timeout=60)
    try:
        server.wait_for_dag("versions", 60, team=TEAM)
        yield server
    finally:
        server.stop()


def dag_commit(server: Standalone) -> str:
    return str(server.get(server.dag_path("versions", TEAM))["code_version"])


@pytest.fixture(scope="module")
def two_commits(server: Standalone, repo: Upstream) -> tuple[str, str, str]:
    """A finished run pinned to SHA1, then SHA2 (adding task c) synced and run."""
    sha1 = dag_commit(server)
    run1 = str(server.post(f"{server.dag_path('versions', TEAM)}/runs")["run_id"])
    server.wait_for_run("versions", run1, 60, team=TEAM)
    sha2 = repo.commit({"dags/versions.py": V2}, "v2: task c")
    server.post(f"/api/v1/repos/{TEAM}/sync")
    server.wait_until(lambda: dag_commit(server) == sha2, 30, "the DAG to move to SHA2")
    run2 = str(server.post(f"{server.dag_path('versions', TEAM)}/runs")["run_id"])
    server.wait_for_run("versions", run2, 60, team=TEAM)
    return sha1, sha2, run1


def code_url(query: str = "") -> str:
    return f"/teams/{TEAM}/dags/versions/code" + (f"?{query}" if query else "")


def test_run_commit_shows_that_commits_file_after_a_new_push(
    server: Standalone, two_commits: tuple[str, str, str], page: Any
) -> None:
    """B.2 59, 33: a run pinned at SHA1 shows SHA1's content in Code even after SHA2, reached
    from the attempt page's commit link; `#L` anchors highlight a line."""
    sha1, _, run1 = two_commits
    quoted = urllib.parse.quote(run1, safe="")
    page.goto(
        f"{server.url}/teams/{TEAM}/dags/versions/runs/{quoted}/tasks/b/attempts/1?tab=details"
    )
    page.get_by_role("link", name=sha1[:10]).click()
    page.wait_for_url(f"**/code?commit={sha1}")
    assert page.locator("#code-path").inner_text() == "dags/versions.py"
    source = page.locator(".src").inner_text()
    assert "def b(x)" in source and "def c(y)" not in source
    page.goto(server.url + code_url(f"commit={sha1}&path=dags/versions.py#L10"))
    assert (
        page.locator("#L10").evaluate("el => getComputedStyle(el).backgroundColor")
        != "rgba(0, 0, 0, 0)"
    )
    assert "def b(x)" in page.locator("#L10").inner_text()


def test_compare_shows_text_and_structural_diff(
    server: Standalone, two_commits: tuple[str, str, str], new_page: Any
) -> None:
    """B.2 59: compare=SHA1..SHA2 shows the text diff and "task c added"; the URL opened in a
    fresh context shows the same."""
    sha1, sha2, _ = two_commits
    for _ in range(2):  # the second is a fresh context: the URL alone reproduces the view
        page = new_page()
        page.goto(server.url + code_url(f"compare={sha1}..{sha2}"))
        assert "task c added" in page.locator("#structure-changes").inner_text()
        assert "task c: upstream" not in page.locator("#structure-changes").inner_text()
        diff = page.locator("#code-diff")
        assert "+    def c(y):" in diff.inner_text()
        assert diff.locator(".d-add").count() >= 4
    assert server.get(
        f"/api/v1{code_url(f'compare={sha1}..{sha2}')}".replace("/code?", "/code/compare?")
    )["changes"] == ["task c added"]


def test_the_grid_marks_the_commit_change_and_links_the_compare_view(
    server: Standalone, two_commits: tuple[str, str, str], page: Any
) -> None:
    """B.2 25: between two runs pinned to different commits the grid shows a marker; its link
    opens the Code compare view for those two SHAs."""
    sha1, sha2, _ = two_commits
    page.goto(f"{server.url}/teams/{TEAM}/dags/versions")
    marker = page.get_by_role("link", name=f"Code changed: compare {sha1[:7]} with {sha2[:7]}")
    assert marker.get_attribute("href") == code_url(f"compare={sha1}..{sha2}")
    assert page.locator(".commit-marker").count() == 1
    marker.click()
    page.wait_for_url(f"**/code?compare={sha1}..{sha2}")
    assert "task c added" in page.locator("#structure-changes").inner_text()


def test_file_tree_binary_file_and_the_rest_api(
    server: Standalone, two_commits: tuple[str, str, str], page: Any
) -> None:
    """A.2.10: the whole snapshot is browsable; a binary file offers a download only; the REST
    counterpart answers the same file."""
    sha1 = two_commits[0]
    page.goto(server.url + code_url(f"commit={sha1}"))
    tree = page.get_by_role("navigation", name="Files of the snapshot")
    assert tree.get_by_role("link", name="README.md").is_visible()
    tree.get_by_role("link", name="logo.bin").click()
    assert page.get_by_role("link", name="download it").is_visible()
    assert page.locator(".src").count() == 0
    answer = server.get(f"/api/v1{code_url(f'commit={sha1}&path=README.md')}")
    assert answer["text"] == "hi\n" and answer["commit"] == sha1
    assert "dags/versions.py" in answer["files"]


def test_snapshot_not_stored_is_explained(server: Standalone, page: Any) -> None:
    """A.2.10: a commit whose snapshot is gone says so, with a 404 and no traceback."""
    missing = "0123456789abcdef0123456789abcdef01234567"
    response = page.goto(server.url + code_url(f"commit={missing}"))
    assert response.status == 404
    assert f"snapshot of {missing} no longer stored" in page.locator("#code-gone").inner_text()
    assert "Traceback" not in page.content()
    bad = page.goto(server.url + code_url("compare=nonsense"))
    assert bad.status == 400


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_code_page_passes_axe(
    server: Standalone, two_commits: tuple[str, str, str], new_page: Any, scheme: str
) -> None:
    """B.2 66: the Code page has no serious or critical axe violation, light and dark."""
    page = new_page(bypass_csp=True, color_scheme=scheme)
    page.goto(server.url + code_url(f"commit={two_commits[0]}"))
    found = chromium.axe_violations(page)
    assert found == [], [(v["id"], [n["html"][:200] for n in v["nodes"][:3]]) for v in found]
