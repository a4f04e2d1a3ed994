"""The run page's Events tab in a browser (UI.md A.2.6): every move of the run's tasks with
who made it, newest first, times in the display zone; it follows a running run without a
reload; its filters live in the URL; axe finds nothing serious. Own standalone, whose `load`
task runs until a flag file exists."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

DAG_FILE = """
import time
from pathlib import Path

from brisa import DAG, task

FLAG = Path({flag!r})

with DAG("events"):

    @task
    def extract() -> int:
        return 1

    @task
    def load(n: int) -> int:
        while not FLAG.exists():  # runs until the test lets it finish
            time.sleep(0.2)
        return n

    load(extract())
"""
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", ROOT / ".artifacts")) / "ui"
DAG = "/teams/default/dags/events"
API = "/api/v1" + DAG


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("ui-events")
    (home / "dags").mkdir()
    (home / "dags" / "events.py").write_text(DAG_FILE.format(flag=str(home / "done")))
    with Standalone(home) as server:
        server.start(timeout=60)
        server.wait_until(lambda: len(server.get("/api/v1/dags")["dags"]) == 1, 30, "DAG parsed")
        yield server


def load_state(server: Standalone, run_id: str) -> str:
    tasks = server.get(f"{API}/runs/{run_id}")["tasks"]
    return str(next(t["state"] for t in tasks if t["task_id"] == "load"))


def test_events_tab_follows_the_run_and_filters_by_who(server: Standalone, new_page: Any) -> None:
    run_id = server.request("POST", API + "/runs", {"run_id": "watched"})["run_id"]
    server.wait_until(lambda: load_state(server, run_id) == "running", 60, "load running")
    page = new_page(bypass_csp=True)
    page.context.add_cookies([{"name": "brisa_tz", "value": "Asia/Kolkata", "url": server.url}])
    page.goto(f"{server.url}{DAG}/runs/{run_id}?tab=events")
    page.wait_for_function("() => window.htmx !== undefined")
    table = page.locator("table.events")
    assert (
        page.get_by_role("link", name="Events", exact=True).get_attribute("aria-current") == "page"
    )
    first = table.locator("tbody tr").first
    assert re.search(r"load\s+1\s.*queued.*running.*worker", first.inner_text(), re.I | re.S)
    whos = table.locator("td.who").all_inner_texts()
    assert "worker" in whos and any(w.startswith("scheduler") for w in whos)
    times = table.locator("tbody time").all()
    assert times and all(t.inner_text().endswith("+05:30") for t in times)
    rows = table.locator("tbody tr").count()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "test_events_tab_running.png", full_page=True)

    (server.home / "done").touch()  # load ends: the tab shows it without a reload
    table.locator("tbody tr").first.filter(has_text=re.compile("success", re.I)).wait_for(
        timeout=30_000
    )
    assert table.locator("tbody tr").count() == rows + 1
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1

    page.get_by_label("Who").select_option("worker")
    page.get_by_role("button", name="Filter events").click()
    page.wait_for_url(re.compile("actor=worker"))
    assert set(page.locator("table.events td.who").all_inner_texts()) == {"worker"}
    assert "tab=events" in page.url
    page.screenshot(path=ARTIFACTS / "test_events_tab_by_workers.png", full_page=True)
    assert [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in chromium.axe_violations(page)
    ] == []
    page.get_by_label("To state").select_option("skipped")
    page.get_by_role("button", name="Filter events").click()
    page.get_by_text("No event matches these filters").wait_for()
    page.get_by_role("link", name="Show every event of this run").click()
    page.wait_for_url(re.compile(r"\?tab=events$"))
    assert page.locator("table.events tbody tr").count() == rows + 1
    page.locator("table.events").scroll_into_view_if_needed()
