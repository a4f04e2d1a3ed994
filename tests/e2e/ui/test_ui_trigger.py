"""The trigger form (UI.md A.4.1, stories B.2 11-19 and 66) against its own standalone with
`fx_params`: a manual DAG with one param of every kind the form knows, one required without
default and an `object` defaulting to `{}`."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

FX_PARAMS = """
from brisa import DAG, Param, shell

PARAMS = {
    "target": Param(type="string", description="Where the data goes"),
    "limit": Param(10, type="integer", minimum=1, maximum=128),
    "ratio": Param(0.5, type="number", minimum=0, maximum=1, multiple_of=0.25),
    "mode": Param("fast", enum=("fast", "safe", "slow")),
    "region": Param("eu-west-1", type="string", examples=("eu-west-1", "us-east-1")),
    "notes": Param("", type="string", format="multiline"),
    "dry_run": Param(False, type="boolean"),
    "day": Param("2026-01-01", type="string", format="date"),
    "at": Param("09:30", type="string", format="time"),
    "start": Param("2026-01-01T00:00:00Z", type="string", format="date-time", section="Timing"),
    "tables": Param(["orders"], type="array", items="string", section="Timing"),
    "options": Param({}, type="object", section="Advanced"),
    "batches": Param([], type="array", section="Advanced"),
    "depth": Param(3, type="integer", maximum=5, section="Advanced"),
    "schema_version": Param(2, type="integer", const=True),
}

with DAG("fx_params", schedule=None, params=PARAMS, description="Every kind of param"):
    shell("echo", "echo {{ params.target | shquote }}")

with DAG(
    "fx_required_object",
    schedule=None,
    params={"payload": Param(type="object"), "note": Param("", type="string")},
):
    shell("echo", "echo ok")

with DAG("fx_paused", schedule=None, params={"n": Param(1, type="integer")}):
    shell("echo", "echo {{ params.n | shquote }}")
"""
FX = "/teams/default/dags/fx_params"
# Where conftest's fixtures save screenshots; a test that leaves the form saves it first.
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", Path(__file__).parents[3] / ".artifacts")) / "ui"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("trigger-home")
    dags = home / "dags"
    dags.mkdir()
    (dags / "fx_params.py").write_text(FX_PARAMS)
    with Standalone(home, dags) as server:
        server.start(timeout=60)
        for dag_id in ("fx_params", "fx_required_object", "fx_paused"):
            server.wait_for_dag(dag_id, timeout=30)
        yield server


def runs(server: Standalone, dag_id: str = "fx_params") -> list[Any]:
    return list(server.get(f"/api/v1/teams/default/dags/{dag_id}/runs?limit=1000")["runs"])


def open_form(server: Standalone, page: Any, path: str = FX + "/trigger") -> None:
    page.goto(server.url + path)
    page.wait_for_function("() => window.htmx !== undefined")


def error_of(page: Any, label: str) -> Any:
    """The error slot of the field labelled `label`."""
    return page.locator("#" + page.get_by_label(label).get_attribute("id") + "-error")


def landed_run(server: Standalone, page: Any, dag_id: str = "fx_params") -> str:
    page.wait_for_url(re.compile(rf"/teams/default/dags/{dag_id}/runs/[^/]+$"))
    return urllib.parse.unquote(page.url.rsplit("/", 1)[1])


def test_fill_the_required_field_and_land_on_the_new_run(server: Standalone, page: Any) -> None:
    """Story 11 (and 19: the `{}` and `[]` defaults trigger as they are)."""
    open_form(server, page)
    assert page.get_by_label("target").get_attribute("aria-describedby")
    assert page.locator(".param", has_text="target").locator(".tag.required").is_visible()
    page.get_by_label("target").fill("warehouse")
    page.get_by_role("button", name="Trigger").click()
    run_id = landed_run(server, page)
    run = server.wait_for_run("fx_params", run_id, timeout=30)
    assert run["state"] == "success"
    assert run["conf"]["target"] == "warehouse"
    assert run["conf"]["options"] == {} and run["conf"]["batches"] == []
    assert run["conf"]["schema_version"] == 2 and run["conf"]["limit"] == 10


def test_a_bad_value_is_flagged_on_tab_out_and_blocks_the_submit(
    server: Standalone, page: Any
) -> None:
    """Story 12."""
    before = len(runs(server))
    open_form(server, page)
    page.get_by_label("target").fill("warehouse")
    limit = page.get_by_label("limit")
    limit.fill("200")
    limit.press("Tab")
    error_of(page, "limit").get_by_text("must be <= 128").wait_for()
    page.wait_for_function("() => document.querySelector('[aria-invalid=true]') !== null")
    assert limit.get_attribute("aria-invalid") == "true"
    page.get_by_role("button", name="Trigger").click()
    summary = page.locator("#trigger-summary")
    summary.wait_for()
    link = summary.get_by_role("link", name="limit")
    assert link.get_attribute("href") == "#" + page.get_by_label("limit").get_attribute("id")
    assert page.get_by_label("limit").input_value() == "200"  # kept
    page.wait_for_function("() => document.activeElement.id === 'trigger-summary'")
    assert len(runs(server)) == before


def test_an_error_in_a_collapsed_section_is_counted_and_opened_on_submit(
    server: Standalone, page: Any
) -> None:
    """Story 13."""
    open_form(server, page)
    page.get_by_label("target").fill("warehouse")
    advanced = page.locator("details.section", has_text="Advanced")
    assert advanced.get_attribute("open") is None  # collapsed: no error, nothing required
    advanced.locator("summary").click()
    depth = page.get_by_label("depth")
    depth.fill("9")
    depth.press("Tab")
    error_of(page, "depth").get_by_text("must be <= 5").wait_for()
    advanced.locator("summary").click()  # collapse it again
    assert advanced.locator(".error-count").inner_text() == "(1 error)"
    page.get_by_role("button", name="Trigger").click()
    page.locator("#trigger-summary").wait_for()
    page.wait_for_function("() => document.activeElement.id === 'trigger-summary'")
    advanced = page.locator("details.section", has_text="Advanced")
    assert advanced.get_attribute("open") is not None
    assert page.get_by_label("depth").input_value() == "9"


def test_form_and_json_tabs_carry_each_others_edits(server: Standalone, page: Any) -> None:
    """Story 14."""
    open_form(server, page)
    page.get_by_label("target").fill("lake")
    page.get_by_role("tab", name="JSON").click()
    text = page.get_by_label("Conf (JSON)")
    conf = json.loads(text.input_value())
    assert conf["target"] == "lake" and conf["limit"] == 10 and conf["options"] == {}
    conf["limit"] = 64
    text.fill(json.dumps(conf))
    page.get_by_role("tab", name="Form").click()
    assert page.get_by_label("limit").input_value() == "64"
    assert page.get_by_label("target").input_value() == "lake"
    page.get_by_role("tab", name="JSON").click()
    page.get_by_label("Conf (JSON)").fill('{"limit": 64,')
    page.get_by_role("tab", name="Form").click()
    page.locator("#conf-json-error").get_by_text("not valid").wait_for()
    assert page.get_by_role("tab", name="JSON").get_attribute("aria-selected") == "true"
    assert page.get_by_label("Conf (JSON)").input_value() == '{"limit": 64,'


def test_rerun_with_the_same_params_marks_what_differs(server: Standalone, page: Any) -> None:
    """Story 15, and a fresh state when the form is opened again."""
    first = server.trigger("fx_params", {"target": "old", "limit": 99})
    open_form(server, page, f"{FX}/trigger?from_run={urllib.parse.quote(first['run_id'])}")
    assert page.get_by_label("target").input_value() == "old"
    assert page.get_by_label("limit").input_value() == "99"
    assert page.locator(".param", has_text="limit").get_by_text("changed from default").is_visible()
    assert page.locator(".param.changed").count() == 1  # target has no default
    open_form(server, page)
    assert page.get_by_label("target").input_value() == ""
    assert page.get_by_label("limit").input_value() == "10"
    conf = urllib.parse.quote(json.dumps({"limit": 42, "mode": "safe"}))
    open_form(server, page, f"{FX}/trigger?conf={conf}")
    assert page.get_by_label("limit").input_value() == "42"
    assert page.get_by_label("mode").input_value() == '"safe"'


def test_a_double_click_creates_one_run(server: Standalone, page: Any) -> None:
    """Story 16: the button disables and both requests carry the form's Idempotency-Key."""
    before = len(runs(server))
    open_form(server, page)
    page.get_by_label("target").fill("twice")
    page.get_by_role("button", name="Trigger").dblclick()
    landed_run(server, page)
    # Replaying the form's request as a second click would: the same key, still one run.
    assert len(runs(server)) == before + 1


def test_the_api_answers_a_repeated_idempotency_key_with_the_first_run(
    server: Standalone,
) -> None:
    """Story 16, through the REST API."""
    import urllib.request

    def post() -> Any:
        request = urllib.request.Request(
            server.url + "/api/v1/teams/default/dags/fx_params/runs",
            data=json.dumps({"conf": {"target": "k"}}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": "same-key"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    before = len(runs(server))
    assert post()["run_id"] == post()["run_id"]
    assert len(runs(server)) == before + 1


def test_a_paused_dag_is_unpaused_after_triggering(server: Standalone, page: Any) -> None:
    """Story 17."""
    server.request("PATCH", "/api/v1/teams/default/dags/fx_paused", {"is_paused": True})
    open_form(server, page, "/teams/default/dags/fx_paused/trigger")
    assert page.get_by_text("This DAG is paused").is_visible()
    assert page.get_by_label("Unpause after triggering").is_checked()
    page.get_by_role("button", name="Trigger").click()
    run_id = landed_run(server, page, "fx_paused")
    assert server.get("/api/v1/teams/default/dags/fx_paused")["is_paused"] is False
    assert server.wait_for_run("fx_paused", run_id, timeout=30)["state"] == "success"


def test_a_date_time_is_read_in_the_display_zone_and_stored_in_utc(
    server: Standalone, new_page: Any
) -> None:
    """Story 18."""
    page = new_page(timezone_id="America/Sao_Paulo")
    page.context.add_cookies([{"name": "brisa_tz", "value": "Asia/Tokyo", "url": server.url}])
    open_form(server, page)
    page.locator("details.section", has_text="Timing").locator("summary").click()
    start = page.get_by_label("start")
    assert "Asia/Tokyo" in page.locator(f"label[for='{start.get_attribute('id')}']").inner_text()
    page.get_by_label("start").fill("2026-03-01T09:00")
    page.get_by_label("target").fill("tokyo")
    page.screenshot(path=ARTIFACTS / "trigger-form-in-asia-tokyo.png", full_page=True)
    page.get_by_role("button", name="Trigger").click()
    run_id = landed_run(server, page)
    assert server.run("fx_params", run_id)["conf"]["start"] == "2026-03-01T00:00:00Z"


def test_an_empty_required_object_blocks_the_submit_quietly(server: Standalone, page: Any) -> None:
    """Story 19."""
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    open_form(server, page, "/teams/default/dags/fx_required_object/trigger")
    page.get_by_role("button", name="Trigger").click()
    error_of(page, "payload").get_by_text("required").wait_for()
    assert page.get_by_label("payload").get_attribute("aria-invalid") == "true"
    assert runs(server, "fx_required_object") == []
    assert console == []
    page.get_by_label("payload").fill("{}")
    page.get_by_role("button", name="Trigger").click()
    landed_run(server, page, "fx_required_object")


def test_a_server_side_failure_keeps_every_value(server: Standalone, page: Any) -> None:
    """A.4.1: a refused trigger (the run id exists) keeps what was typed and says why next to
    the run id."""
    taken = server.trigger("fx_params", {"target": "x"})["run_id"]
    open_form(server, page)
    page.get_by_label("target").fill("kept")
    page.get_by_label("limit").fill("7")
    page.get_by_label("Run id").fill(taken)
    page.get_by_label("target").press("Control+Enter")
    page.locator("#run-id-error", has_text="already exists").wait_for()
    assert page.get_by_label("Run id").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("target").input_value() == "kept"
    assert page.get_by_label("limit").input_value() == "7"
    assert page.get_by_label("Run id").input_value() == taken


def test_keyboard_only_trigger_with_a_visible_focus(server: Standalone, page: Any) -> None:
    """Story 67 (the trigger step): Tab to the first field, type, mod+Enter submits; the
    focused field shows a focus ring."""
    open_form(server, page)
    target = page.get_by_label("target").get_attribute("id")
    for _ in range(40):
        if page.evaluate("() => document.activeElement.id") == target:
            break
        page.keyboard.press("Tab")
    page.keyboard.type("by-keyboard")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.screenshot(path=ARTIFACTS / "trigger-keyboard-focus.png")
    page.keyboard.press("Control+Enter")
    run_id = landed_run(server, page)
    assert server.run("fx_params", run_id)["conf"]["target"] == "by-keyboard"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_form_with_errors_passes_axe(server: Standalone, new_page: Any, scheme: str) -> None:
    """Story 66: the trigger form with errors shown, in both themes."""
    page = new_page(bypass_csp=True, color_scheme=scheme)
    open_form(server, page)
    page.locator("details.section >> nth=0").locator("summary").click()
    page.get_by_label("limit").fill("500")
    page.get_by_role("button", name="Trigger").click()
    page.locator("#trigger-summary").wait_for()
    assert chromium.axe_violations(page) == []


def test_unknown_dag_is_a_404_page(server: Standalone, page: Any) -> None:
    response = page.goto(server.url + "/teams/default/dags/nope/trigger")
    assert response.status == 404
    assert "Traceback" not in page.content()
