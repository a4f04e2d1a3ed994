"""Colours and zones as a person sees them (UI.md A.6, A.7; stories 62 and 70): every state
colour keeps 3:1 against the page in both themes, the pause switch's words are readable in the
dark theme, and with a display zone every time shown carries that zone's offset."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from brisa.testing.server import Standalone

STATES = ("success", "failed", "running", "queued", "up_for_retry", "upstream_failed",
          "skipped", "cancelled", "pending", "none")  # fmt: skip
CONTRAST = """([a, b]) => {
  const rgb = (text) => {
    const probe = document.createElement("span");
    probe.style.color = text;
    document.body.append(probe);
    const parts = getComputedStyle(probe).color.match(/[\\d.]+/g).map(Number);
    probe.remove();
    return parts.slice(0, 3);
  };
  const lum = (c) => {
    const [r, g, b] = c.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}"""


def contrast(page: Any, a: str, b: str) -> float:
    return float(page.evaluate(CONTRAST, [a, b]))


def var(page: Any, name: str) -> str:
    script = f"() => getComputedStyle(document.documentElement).getPropertyValue('{name}')"
    return str(page.evaluate(script)).strip()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_state_colours_keep_3_to_1_and_the_pause_switch_reads(
    ui_server: Standalone, new_page: Any, scheme: str
) -> None:
    """Story 70 (and its light twin): computed colours, not the stylesheet's text."""
    page = new_page(color_scheme=scheme)
    page.goto(ui_server.url + "/dags")
    low = {
        (state, ground): round(contrast(page, var(page, f"--s-{state}"), var(page, ground)), 2)
        for state in STATES
        for ground in ("--bg", "--bg-alt")
    }
    assert {k: v for k, v in low.items() if v < 3} == {}
    switch = page.locator("button.toggle").first
    assert switch.inner_text().split("\n")[0] in ("Active", "Paused")
    colours = switch.evaluate(
        "b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]"
    )
    background = colours[1] if "0, 0, 0, 0" not in colours[1] else var(page, "--bg")
    assert contrast(page, colours[0], background) >= 4.5, colours


def test_every_time_is_in_the_display_zone(ui_server: Standalone, new_page: Any) -> None:
    """Story 62: context zone America/New_York, display zone Asia/Kolkata (chosen in
    Settings): the DAG list, run header, attempt details and log times are +05:30 and the top
    bar names the zone; a time in UTC or another zone is labelled as such."""
    api = "/api/v1/teams/default/dags/shell_pipeline/runs"
    run_id = ui_server.post(api)["run_id"]
    path = f"{api}/{quote(run_id, safe='')}"
    ui_server.wait_until(lambda: ui_server.get(path)["state"] == "success", 60, "the run ended")
    page = new_page(timezone_id="America/New_York")
    page.context.add_cookies([{"name": "brisa_tz", "value": "Asia/Kolkata", "url": ui_server.url}])
    run = f"/teams/default/dags/shell_pipeline/runs/{quote(run_id, safe='')}"
    for where in ("/dags", run, f"{run}/tasks/count/attempts/1?tab=details"):
        page.goto(ui_server.url + where)
        assert "Asia/Kolkata" in page.locator("header").first.inner_text(), where
        # What a time shows, and for a relative one ("3 min ago") the absolute time on hover.
        shown = page.locator("main time").evaluate_all(
            "ts => ts.map(t => t.textContent + ' ' + (t.title || ''))"
        )
        # Another offset is allowed only labelled with its zone ("… +00:00 UTC", the DAG's).
        found = re.findall(r"([+-]\d\d:\d\d)( (?:UTC|[A-Z][a-z]+/\w+))?", " ".join(shown))
        unlabelled = {o for o, label in found if o != "+05:30" and not label}
        assert "+05:30" in {o for o, _ in found} and not unlabelled, (where, shown[:5])
    log = f"{run}/tasks/count/attempts/1?tab=logs&ts="
    page.goto(ui_server.url + log + "local")
    local = page.locator("#logview .ts").first.inner_text().strip()
    page.goto(ui_server.url + log + "utc")
    utc = page.locator("#logview .ts").first.inner_text().strip()
    assert local[5:] == utc[5:]  # the same instant: seconds and milliseconds agree
    shifted = datetime.strptime(utc[:5], "%H:%M") + timedelta(hours=5, minutes=30)
    assert local[:5] == shifted.strftime("%H:%M"), (local, utc)
