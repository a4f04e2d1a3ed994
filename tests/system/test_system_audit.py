"""The audit record through the REST API (`GET /api/v1/audit`): every action people ask for is
recorded with who asked, when, what, on which target and how it ended — refusals too — and
read back newest first, filtered and paged. Dry runs and reads are not recorded."""

from __future__ import annotations

import pytest

from brisa import DAG, shell
from brisa.testing.fakes import Fail
from system.inprocess import ApiFailed, InProcess


def chain() -> DAG:
    with DAG("chain") as dag:
        shell("a", "true") >> shell("b", "true")
    return dag


def test_actions_are_recorded_with_who_what_target_and_outcome(brisa: InProcess) -> None:
    brisa.publish(chain())
    brisa.executor.script("a", Fail("boom"))
    dag = brisa.dag_path("chain")
    brisa.request("PATCH", dag, {"is_paused": True})
    brisa.request("PATCH", dag, {"is_paused": False})
    brisa.trigger("chain")
    brisa.settle()
    run = brisa.run_path("chain", "r1")
    brisa.request("POST", f"{run}/clear?dry_run=true", {"task_ids": ["a"], "downstream": True})
    brisa.request("POST", f"{run}/clear", {"task_ids": ["a"], "downstream": True})
    with pytest.raises(ApiFailed):
        brisa.request("POST", f"{brisa.run_path('chain', 'nope')}/cancel")

    entries = brisa.request("GET", "/api/v1/audit")["entries"]
    assert [(e["action"], e["target"], e["outcome"]) for e in entries] == [
        ("cancel_run", "default/chain/nope", "refused"),
        ("clear", "default/chain/r1", "ok"),
        ("trigger", "default/chain", "ok"),
        ("unpause", "default/chain", "ok"),
        ("pause", "default/chain", "ok"),
    ]
    assert {(e["user"], e["via"], e["team"]) for e in entries} == {("api", "rest", "default")}
    assert "no run 'nope'" in entries[0]["message"]
    assert entries[1]["detail"]["tasks"] == ["a", "b"]
    assert entries[2]["detail"] == {"run_id": "r1"}
    assert entries[3]["message"] is None and entries[3]["at"].endswith("Z")


def test_the_record_is_filtered_and_paged(brisa: InProcess) -> None:
    brisa.publish(chain())
    dag = brisa.dag_path("chain")
    for paused in (True, False, True):
        brisa.request("PATCH", dag, {"is_paused": paused})

    pauses = brisa.request("GET", "/api/v1/audit?action=pause")["entries"]
    assert [e["action"] for e in pauses] == ["pause", "pause"]
    first = brisa.request("GET", "/api/v1/audit?limit=2")
    assert [e["action"] for e in first["entries"]] == ["pause", "unpause"]
    rest = brisa.request("GET", f"/api/v1/audit?limit=2&after={first['next_cursor']}")
    assert [e["action"] for e in rest["entries"]] == ["pause"] and rest["next_cursor"] is None
    assert brisa.request("GET", "/api/v1/audit?team=other")["entries"] == []
    assert brisa.request("GET", "/api/v1/audit?user=alice")["entries"] == []
    assert brisa.request("GET", "/api/v1/audit?from=2999-01-01")["entries"] == []


@pytest.mark.parametrize(
    ("query", "says"),
    [("action=explode", "unknown action 'explode'"), ("from=yesterday", "from must be")],
)
def test_a_bad_filter_says_what_is_wrong(brisa: InProcess, query: str, says: str) -> None:
    with pytest.raises(ApiFailed) as failed:
        brisa.request("GET", f"/api/v1/audit?{query}")
    assert failed.value.status == 400 and says in str(failed.value)
