"""The frame every page shares: what `make run` opens, security headers, errors, preferences."""

from __future__ import annotations

import gzip
import urllib.request
from typing import Any

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone


def test_root_is_the_overview_not_a_json_error(ui_server: Standalone, page: Any) -> None:
    response = page.goto(ui_server.url + "/")
    assert response.status == 200
    assert page.title() == "Overview · Brisa"
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert page.get_by_role("heading", name="Overview").is_visible()
    dags = len(ui_server.get("/api/v1/dags")["dags"])
    assert page.locator(".card", has_text="DAGs").inner_text().split()[-1].startswith(str(dags))


def test_pages_carry_a_strict_csp_and_no_inline_script(ui_server: Standalone, page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = page.goto(ui_server.url + "/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("style-src-attr")[0]
    assert chromium.inline_scripts(page) == 0
    page.wait_for_function("() => window.htmx !== undefined")
    assert errors == []  # nothing the CSP refused, no script error


def test_unknown_page_is_a_404_page_that_links_back(ui_server: Standalone, page: Any) -> None:
    response = page.goto(ui_server.url + "/no/such/page")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert "/no/such/page" in page.locator(".message").inner_text()
    assert "Traceback" not in page.content()
    page.get_by_role("link", name="Back to the overview").click()
    page.wait_for_url(ui_server.url + "/")


def test_api_paths_still_answer_json(ui_server: Standalone) -> None:
    with urllib.request.urlopen(ui_server.url + "/api/v1/health", timeout=10) as resp:
        assert resp.headers["content-type"] == "application/json"


def test_ui_write_without_the_page_token_is_refused(ui_server: Standalone, page: Any) -> None:
    page.goto(ui_server.url + "/settings")
    status = page.evaluate(
        """async () => (await fetch('/_/settings', {method: 'POST',
              headers: {'Content-Type': 'application/x-www-form-urlencoded'},
              body: 'tz=Asia/Tokyo'})).status"""
    )
    assert status == 403


def test_browser_zone_is_adopted_then_the_chosen_one_is_shown_everywhere(
    ui_server: Standalone, new_page: Any
) -> None:
    page = new_page(timezone_id="Europe/Lisbon")
    page.goto(ui_server.url + "/")
    page.wait_for_function("() => document.documentElement.dataset.tz === 'Europe/Lisbon'")
    assert "Europe/Lisbon" in page.locator(".zone").inner_text()
    page.goto(ui_server.url + "/settings")
    page.get_by_label("Display time zone").fill("Asia/Tokyo")
    page.get_by_role("button", name="Save").click()
    page.wait_for_function("() => document.documentElement.dataset.tz === 'Asia/Tokyo'")
    assert "Asia/Tokyo, UTC+09:00" in page.locator(".zone").inner_text()


def test_a_bad_zone_is_an_inline_error_and_nothing_changes(
    ui_server: Standalone, page: Any
) -> None:
    page.goto(ui_server.url + "/settings")
    before = page.locator(".zone").inner_text()
    page.get_by_label("Display time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Save").click()
    error = page.get_by_role("alert")
    error.wait_for()
    assert "Mars/Olympus" in error.inner_text() and "IANA" in error.inner_text()
    assert page.get_by_label("Display time zone").get_attribute("aria-invalid") == "true"
    page.reload()
    assert page.locator(".zone").inner_text() == before


def test_no_js_visit_shows_utc(ui_server: Standalone, new_page: Any) -> None:
    page = new_page(timezone_id="Europe/Lisbon", java_script_enabled=False)
    page.goto(ui_server.url + "/")
    assert "UTC, UTC+00:00" in page.locator(".zone").inner_text()


def test_theme_toggle_and_dark_scheme(ui_server: Standalone, new_page: Any) -> None:
    page = new_page(color_scheme="dark")
    page.goto(ui_server.url + "/")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    page.get_by_role("button", name="Switch theme").click()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "light"


def test_frame_pages_pass_axe(ui_server: Standalone, new_page: Any) -> None:
    for scheme in ("light", "dark"):
        page = new_page(color_scheme=scheme, bypass_csp=True)
        for path in ("/", "/settings", "/no/such/page"):
            page.goto(ui_server.url + path)
            assert chromium.axe_violations(page) == [], (scheme, path)


def test_shortcut_help_opens_with_question_mark_but_not_while_typing(
    ui_server: Standalone, page: Any
) -> None:
    page.goto(ui_server.url + "/")
    page.get_by_label("Jump to a DAG, run or task").focus()
    page.keyboard.type("?")
    assert not page.locator("#shortcuts").is_visible()
    page.locator("main").focus()
    page.keyboard.press("?")
    assert page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()


def test_pages_travel_gzipped_and_event_streams_do_not(ui_server: Standalone) -> None:
    accepts = {"Accept-Encoding": "gzip"}
    page = urllib.request.Request(ui_server.url + "/dags", headers=accepts)
    with urllib.request.urlopen(page, timeout=30) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert b"</html>" in gzip.decompress(response.read())
    stream = urllib.request.Request(ui_server.url + "/_/events?topics=health", headers=accepts)
    with urllib.request.urlopen(stream, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Content-Encoding"] is None
