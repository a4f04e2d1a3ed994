"""Owners and favourites over HTTP (UI.md A.2.2, issue 12): the DAG list's `?owner=` and
`?favourite=1` filters, the star's POST (cookie set, CSRF required, unknown DAG 404, bad value
400), and a malformed favourites cookie ignored, never an error."""

from __future__ import annotations

import re
from typing import Any

import pytest

from brisa import DAG, shell
from brisa.web.ui.favourites import FAV_COOKIE, parse
from brisa.web.ui.security import CSRF_COOKIE
from system.inprocess import InProcess


@pytest.fixture
def brisa_with_dags(brisa: InProcess) -> InProcess:
    for dag_id, owner in (("ledger", "data-eng"), ("report", "analytics"), ("sweep", None)):
        with DAG(dag_id, owner=owner) as dag:
            shell("t", "true")
        brisa.publish(dag)
    brisa.api.get("/dags")  # the CSRF cookie, as a browser's first visit
    return brisa


def star(brisa: InProcess, dag_id: str, starred: str, *, token: bool = True) -> Any:
    headers = {"HX-Request": "true"}
    if token:
        headers["X-CSRF-Token"] = brisa.api.cookies[CSRF_COOKIE]
    answer = brisa.api.post(
        f"/_/dags/star/default/{dag_id}", data={"starred": starred}, headers=headers
    )
    return answer


def rows(html: str) -> list[str]:
    return re.findall(r'data-dag="default/([^"]+)"', html)


def test_owner_filter_and_an_unknown_owner_with_its_chip(brisa_with_dags: InProcess) -> None:
    brisa = brisa_with_dags
    assert rows(brisa.api.get("/dags?owner=data-eng").text) == ["ledger"]
    nobody = brisa.api.get("/dags?owner=nobody")
    assert nobody.status_code == 200 and rows(nobody.text) == []
    assert "No DAG matches these filters" in nobody.text
    assert 'aria-label="Remove filter owner nobody"' in nobody.text
    listed = brisa.request("GET", "/api/v1/dags?owner=nobody")
    assert (listed["dags"], listed["total"]) == ([], 0)
    assert brisa.request("GET", "/api/v1/dags?owner=analytics")["dags"][0]["owner"] == "analytics"
    assert (
        brisa.api.get("/_/dags/owners?owner=ANA").text.strip()
        == '<option value="analytics"></option>'
    )


def test_a_star_sets_the_cookie_and_the_favourites_filter_follows(
    brisa_with_dags: InProcess,
) -> None:
    brisa = brisa_with_dags
    assert star(brisa, "report", "true").status_code == 200
    assert parse(brisa.api.cookies[FAV_COOKIE]) == (("default", "report"),)
    page = brisa.api.get("/dags?favourite=1").text
    assert rows(page) == ["report"]
    assert re.search(r"Favourites <span class=\"count\">1</span>", page)
    assert star(brisa, "report", "false").status_code == 200
    assert rows(brisa.api.get("/dags?favourite=1").text) == []


def test_star_refusals(brisa_with_dags: InProcess) -> None:
    brisa = brisa_with_dags
    assert star(brisa, "ledger", "true", token=False).status_code == 403  # CSRF
    assert star(brisa, "nope", "true").status_code == 404
    refused = star(brisa, "ledger", "maybe")
    assert refused.status_code == 400 and "starred must be true or false" in refused.text
    assert brisa.api.cookies.get(FAV_COOKIE) is None  # nothing was starred


@pytest.mark.parametrize(
    "cookie", ["%%%", "<script>", "a" * 9000, "default%2Fnope,default/ledger,,/,x/"]
)
def test_a_malformed_favourites_cookie_is_ignored(brisa_with_dags: InProcess, cookie: str) -> None:
    brisa = brisa_with_dags
    brisa.api.cookies.set(FAV_COOKIE, cookie)
    for path in ("/", "/dags", "/dags?favourite=1", "/teams/default/dags/ledger"):
        assert brisa.api.get(path).status_code == 200, path
    starred = rows(brisa.api.get("/dags?favourite=1").text)
    assert starred == (["ledger"] if "ledger" in cookie else [])


def test_the_new_dags_bar_counts_what_the_list_filters_would_show(
    brisa_with_dags: InProcess,
) -> None:
    """The DAG list's "N new — show" bar counts the DAGs its filters match beyond the count
    the page knew, whatever the sort (next run is sorted outside the database)."""
    brisa = brisa_with_dags

    def bar(query: str) -> str:
        return re.sub(r"\s+", " ", brisa.api.get(f"/_/dags/new?{query}").text)

    assert "3 new DAGs" in bar("known=0")
    assert "1 new DAG</strong>" in bar("known=2&sort=next_run")
    assert "new DAG" not in bar("known=3")
    assert "1 new DAG</strong>" in bar("known=0&owner=analytics")
    assert "show" in bar("known=0&owner=analytics") and "owner=analytics" in bar(
        "known=0&owner=analytics"
    )
    assert "new DAG" not in bar("known=0&owner=nobody")
    assert "3 new DAGs" in bar("known=0&sort=bogus")  # bad filters: the unfiltered count
