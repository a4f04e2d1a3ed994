"""The Config page (UI.md A.2.13): the effective configuration, one row per key with its
source and whether workers receive it, secrets masked; the same rows as `GET /api/v1/config`."""

from __future__ import annotations

from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone


def test_config_lists_every_key_with_its_source_and_masks_secrets(
    ui_server: Standalone, page: Any
) -> None:
    page.goto(ui_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Config").click()
    page.wait_for_url(ui_server.url + "/config")
    rows = page.locator("table.config tbody tr")
    api = ui_server.get("/api/v1/config")["config"]
    assert rows.count() == len(api)
    secret = page.locator("tr", has=page.locator("th", has_text="core.secret_key"))
    assert secret.locator("td").nth(0).inner_text() == "***"
    assert secret.locator("td").nth(1).inner_text().startswith("generated in ")
    port = page.locator("tr", has=page.locator("th", has_text="api.port"))
    assert port.locator("td").nth(1).inner_text() == "command line"  # standalone --port
    assert port.locator("td").nth(2).inner_text() == "yes"
    poll = page.locator("tr", has=page.locator("th", has_text="scheduler.poll_interval"))
    assert poll.locator("td").nth(2).inner_text() == "no"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_config_passes_axe(ui_server: Standalone, new_page: Any, scheme: str) -> None:
    """Story 66 (the Config page, both themes)."""
    page = new_page(bypass_csp=True, color_scheme=scheme)
    page.goto(ui_server.url + "/config")
    assert chromium.axe_violations(page) == []
