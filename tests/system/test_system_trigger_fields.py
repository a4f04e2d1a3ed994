"""Triggering with a logical date and a note, through the REST API and the trigger form: bad
input comes back next to its field (the form) or as a 400 naming it (the API), never a 500,
and nothing is created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brisa import DAG, shell
from brisa.web.ui.security import CSRF_COOKIE
from system.inprocess import ApiFailed, InProcess

FORM = "/_/teams/default/dags/daily/trigger"


def publish_daily(brisa: InProcess) -> None:
    with DAG("daily", schedule="0 3 * * *", start_date=datetime(2020, 1, 1, tzinfo=UTC)) as dag:
        shell("only", "true")
    brisa.publish(dag)
    brisa.store.set_paused("default", "daily", True)  # only the runs the tests trigger


def submit(brisa: InProcess, **fields: str) -> str:
    """Post the form as the browser does: with the CSRF cookie the page set, and its token."""
    if brisa.api.cookies.get(CSRF_COOKIE) is None:
        brisa.api.get("/teams/default/dags/daily/trigger")
    token = brisa.api.cookies[CSRF_COOKIE]
    answer = brisa.api.post(
        FORM,
        data={"idempotency_key": fields.pop("key", "k1"), "mode": "form", **fields},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert answer.status_code == 200, answer.text
    return answer.headers.get("HX-Redirect") or answer.text


def run_ids(brisa: InProcess) -> list[str]:
    return [r["run_id"] for r in brisa.request("GET", f"{brisa.dag_path('daily')}/runs")["runs"]]


def test_the_api_keeps_a_note_and_a_past_logical_date(brisa: InProcess) -> None:
    publish_daily(brisa)
    when = (brisa.clock() - timedelta(days=2)).replace(microsecond=0)
    body = {"run_id": "r1", "logical_date": when.isoformat(), "note": "backfill for the audit"}
    created = brisa.request("POST", f"{brisa.dag_path('daily')}/runs", body)
    assert created["note"] == "backfill for the audit"
    run = brisa.run("daily")
    assert (run["note"], run["logical_date"]) == ("backfill for the audit", created["logical_date"])
    assert datetime.fromisoformat(run["logical_date"]) == when


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"logical_date": "2999-01-01T00:00:00Z"}, "is in the future"),
        ({"logical_date": "2026-01-01T00:00:00"}, "needs a time zone"),
        ({"logical_date": "yesterday"}, "logical_date"),
        ({"note": "x" * 2001}, "note"),
    ],
)
def test_the_api_refuses_a_bad_logical_date_or_note(
    brisa: InProcess, body: dict[str, str], words: str
) -> None:
    publish_daily(brisa)
    with pytest.raises(ApiFailed) as failed:
        brisa.request("POST", f"{brisa.dag_path('daily')}/runs", body)
    assert failed.value.status == 400 and words in failed.value.detail
    assert run_ids(brisa) == []


def test_the_form_triggers_with_a_logical_date_in_the_display_zone_and_a_note(
    brisa: InProcess,
) -> None:
    publish_daily(brisa)
    page = brisa.api.get("/teams/default/dags/daily/trigger").text
    assert 'id="logical-date"' in page and 'id="note"' in page
    assert submit(brisa, run_id="mine", logical_date="2020-06-01T09:30", note="re-run") == (
        "/teams/default/dags/daily/runs/mine"
    )
    run = brisa.run("daily", "mine")
    assert run["note"] == "re-run"
    assert datetime.fromisoformat(run["logical_date"]) == datetime(2020, 6, 1, 9, 30, tzinfo=UTC)
    assert "re-run" in brisa.api.get("/teams/default/dags/daily/runs/mine").text


def test_bad_run_fields_come_back_next_to_their_field_and_nothing_is_created(
    brisa: InProcess,
) -> None:
    publish_daily(brisa)
    html = submit(brisa, run_id="a b", logical_date="2999-01-01T00:00", note="kept")
    assert "3 problems" not in html and "2 problems: nothing was triggered" in html
    assert 'id="run-id" name="run_id" value="a b"' in html
    assert 'aria-invalid="true"' in html
    assert "may use letters, digits" in html.split('id="run-id-error"')[1].split("</p>")[0]
    assert "is in the future" in html.split('id="logical-date-error"')[1].split("</p>")[0]
    assert ">kept</textarea>" in html  # every value kept
    malformed = submit(brisa, logical_date="June 1st", key="k2")
    assert "is not a date and time" in malformed.split('id="logical-date-error"')[1]
    assert run_ids(brisa) == []


def test_a_run_id_that_exists_is_flagged_on_the_run_id_field(brisa: InProcess) -> None:
    publish_daily(brisa)
    brisa.request("POST", f"{brisa.dag_path('daily')}/runs", {"run_id": "taken"})
    html = submit(brisa, run_id="taken", key="k3")
    assert "already exists" in html.split('id="run-id-error"')[1].split("</p>")[0]
    assert "Traceback" not in html
    assert run_ids(brisa) == ["taken"]


def test_a_manual_only_dag_has_no_logical_date_field(brisa: InProcess) -> None:
    with DAG("adhoc") as dag:
        shell("only", "true")
    brisa.publish(dag)
    page = brisa.api.get("/teams/default/dags/adhoc/trigger").text
    assert 'id="note"' in page and 'id="logical-date"' not in page
