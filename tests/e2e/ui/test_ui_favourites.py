"""DAG owners and favourites in a browser (UI.md A.2.1, A.2.2, A.2.3; issue 12): the owner
column that filters, the owner typeahead over every owner, the star on a row and on the DAG
page (Undo toast, aria-pressed, keyboard), the Favourites tab and "My favourites" on the
Overview; a malformed favourites cookie is ignored.

One standalone for the module: three DAGs of team `default`, two with owners.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

DAG = """
from brisa import DAG, task

with DAG("{dag_id}", owner={owner!r}, tags=["fav"]):

    @task(retries=0)
    def work() -> str:
        return "done"

    work()
"""
OWNERS = {"ledger": "data-eng", "report": "analytics team", "sweep": None}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("fav-home")
    dags = home / "dags"
    dags.mkdir()
    for dag_id, owner in OWNERS.items():
        (dags / f"{dag_id}.py").write_text(DAG.format(dag_id=dag_id, owner=owner))
    with Standalone(home, dags) as started:
        started.start(timeout=60)
        for dag_id in OWNERS:
            started.wait_for_dag(dag_id)
        run = started.trigger("ledger")
        started.wait_for_run("ledger", run["run_id"])
        yield started


def tab(page: Any, name: str) -> Any:
    nav = page.get_by_role("navigation", name="Quick filters")
    return nav.get_by_role("link", name=re.compile(name))


def test_owner_column_filters_and_the_api_agrees(server: Standalone, page: Any) -> None:
    """The owner is a column whose link filters (`?owner=`), the REST list filters the same
    way, and an unknown owner shows the empty state with a chip that drops it."""
    page.goto(server.url + "/dags")
    ledger = page.locator("tr.dag-row", has_text="ledger")
    assert ledger.locator("td.owner").inner_text() == "data-eng"
    assert page.locator("tr.dag-row", has_text="sweep").locator("td.owner").inner_text() == "—"
    ledger.locator("td.owner").get_by_role("link", name="data-eng").click()
    page.wait_for_url(re.compile(r"/dags\?owner=data-eng$"))
    assert page.locator("tr.dag-row").count() == 1
    assert [d["dag_id"] for d in server.get("/api/v1/dags?owner=data-eng")["dags"]] == ["ledger"]
    assert server.find_dag("report")["owner"] == "analytics team"
    page.goto(server.url + "/dags?owner=nobody")
    assert "No DAG matches these filters" in page.locator(".empty").inner_text()
    page.get_by_role("link", name="Remove filter owner nobody").click()
    page.wait_for_url(re.compile(r"/dags$"))
    assert page.locator("tr.dag-row").count() == 3


def test_owner_typeahead_offers_every_owner(server: Standalone, page: Any) -> None:
    page.goto(server.url + "/dags")
    owner = page.get_by_label("Owner")
    owner.press_sequentially("team")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#owner-options option')]"
        ".map(o => o.value).join() === 'analytics team'"
    )
    owner.fill("analytics team")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"owner=analytics\+team"))
    assert [r.inner_text().split()[0] for r in page.locator("tr.dag-row td.name").all()] == [
        "report"
    ]
    assert server.get("/api/v1/dag-owners?prefix=DATA")["owners"] == ["data-eng"]


def test_star_from_the_keyboard_undo_and_the_favourites_tab(server: Standalone, page: Any) -> None:
    page.goto(server.url + "/dags")
    assert tab(page, "Favourites").locator(".count").inner_text() == "0"
    star = page.get_by_role("button", name="Favourite default/ledger")
    assert star.get_attribute("aria-pressed") == "false"
    star.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    page.wait_for_function(
        "() => document.querySelector('tr.dag-row button.star[aria-pressed=true]') !== null"
    )
    starred = page.get_by_role("button", name="Favourite default/ledger")
    assert starred.locator("[aria-hidden=true]").inner_text() == "★"  # not colour alone
    toast = page.locator("#toasts .toast")
    assert "added to favourites" in toast.inner_text()
    toast.get_by_role("button", name="Undo").click()
    page.wait_for_function(
        "() => document.querySelector('tr.dag-row button.star[aria-pressed=true]') === null"
    )
    page.get_by_role("button", name="Favourite default/report").click()
    page.wait_for_function(
        "() => document.querySelectorAll('tr.dag-row button.star[aria-pressed=true]').length === 1"
    )
    page.reload()  # kept by the browser's cookie
    assert tab(page, "Favourites").locator(".count").inner_text() == "1"
    tab(page, "Favourites").click()
    page.wait_for_url(re.compile(r"favourite=1"))
    assert page.locator("tr.dag-row").count() == 1
    assert "report" in page.locator("tr.dag-row").inner_text()
    assert tab(page, "Favourites").get_attribute("aria-current") == "page"


def test_star_on_the_dag_page_and_my_favourites_on_the_overview(
    server: Standalone, page: Any
) -> None:
    page.goto(server.url + "/teams/default/dags/ledger")
    assert "data-eng" in page.locator(".dag-header .facts").inner_text()
    star = page.get_by_role("button", name="Favourite default/ledger")
    star.click()
    page.wait_for_function(
        "() => document.querySelector('.dag-header button.star').getAttribute('aria-pressed')"
        " === 'true'"
    )
    page.goto(server.url + "/")
    favourites = page.locator("section.favourites")
    assert "ledger" in favourites.inner_text()
    assert favourites.locator(".bars .bar").count() == 1  # its one run
    favourites.get_by_role("link", name="ledger").click()
    page.wait_for_url(re.compile(r"/teams/default/dags/ledger$"))


def test_a_malformed_favourites_cookie_is_ignored(server: Standalone, new_page: Any) -> None:
    page = new_page()
    bad = "%%%,<b>,default%2Fnope,default/ledger"
    page.context.add_cookies([{"name": "brisa_fav", "value": bad, "url": server.url}])
    page.goto(server.url + "/dags")
    assert page.locator("tr.dag-row").count() == 3
    assert tab(page, "Favourites").locator(".count").inner_text() == "1"  # ledger only
    page.goto(server.url + "/")
    assert "ledger" in page.locator("section.favourites").inner_text()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_owner_and_stars_pass_axe(server: Standalone, new_page: Any, scheme: str) -> None:
    page = new_page(bypass_csp=True, color_scheme=scheme)
    page.context.add_cookies([{"name": "brisa_fav", "value": "default/ledger", "url": server.url}])
    for path in ("/", "/dags", "/dags?owner=nobody", "/teams/default/dags/ledger"):
        page.goto(server.url + path)
        assert chromium.axe_violations(page) == [], path
