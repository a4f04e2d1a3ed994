"""The Pools page: reached from the navigation, each team's pools with their slots and use,
one pool's holders and waiting tasks; accessible in both themes."""

from __future__ import annotations

from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone


def test_the_pools_page_lists_a_teams_pools_from_the_navigation(
    ui_server: Standalone, page: Any
) -> None:
    ui_server.request(
        "PUT", "/api/v1/teams/default/pools/ui_gpu", {"slots": 2, "description": "two GPUs"}
    )
    page.goto(ui_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pools").click()
    page.wait_for_url(ui_server.url + "/pools")
    gpu = page.locator("tr[data-pool='ui_gpu']")
    assert gpu.locator("td").nth(1).inner_text() == "2"
    assert "two GPUs" in gpu.inner_text()
    default = page.locator("tr[data-pool='default_pool']")
    assert "size from [pools] default_slots" in default.inner_text()

    gpu.get_by_role("link", name="ui_gpu").click()
    page.wait_for_url("**/teams/default/pools?pool=ui_gpu")
    heading = page.get_by_role("heading", name="Pool ui_gpu: 0 of 2 used, 0 waiting")
    assert heading.is_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pools_passes_axe(ui_server: Standalone, new_page: Any, scheme: str) -> None:
    page = new_page(bypass_csp=True, color_scheme=scheme)
    page.goto(ui_server.url + "/teams/default/pools?pool=default_pool")
    assert chromium.axe_violations(page) == []
