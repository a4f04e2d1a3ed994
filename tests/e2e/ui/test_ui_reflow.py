"""Reflow and motion in a browser (UI.md A.6, stories 69 and 71): at 320 CSS pixels wide (what a
1280 px window shows at 400 % zoom, and more than 200 % of a phone) no page scrolls sideways;
only the grid and the log scroll inside themselves. With reduced motion, nothing animates."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from brisa.testing.server import Standalone

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


def test_reduced_motion_means_nothing_animates(ui_server: Standalone, new_page: Any) -> None:
    """Story 69: with prefers-reduced-motion, a page with runs and live badges animates
    nothing."""
    run = quote(finished_run(ui_server), safe="")
    page = new_page(reduced_motion="reduce")
    for path in ("/", DAG, f"{DAG}/runs/{run}/tasks/count/attempts/1"):
        page.goto(ui_server.url + path)
        page.wait_for_function("() => window.htmx !== undefined")
        assert page.evaluate("() => document.getAnimations().length") == 0, path
