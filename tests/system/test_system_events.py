"""A run's events through the whole system: the REST endpoints and the run page's Events tab
show every move its tasks made — scheduler, worker, a person's clear — newest first, with who
made it, filtered and paged; bad filters and unknown runs answer with what was wrong."""

from __future__ import annotations

from typing import Any

import pytest

from brisa import DAG, shell
from brisa.testing.fakes import Fail, Succeed
from system.inprocess import ApiFailed, InProcess


def failed_then_cleared(brisa: InProcess) -> str:
    """Run r1 of `etl`: extract fails (no retries), load is upstream_failed, then a person
    clears extract with its downstream and it succeeds. Returns the run's REST path."""
    with DAG("etl") as dag:
        shell("extract", "true") >> shell("load", "true")
    brisa.publish(dag)
    brisa.executor.script("extract", Fail("source down"), Succeed(1))
    brisa.executor.script("load", Succeed(2))
    brisa.trigger("etl")
    brisa.settle()
    path = brisa.run_path("etl", "r1")
    brisa.request("POST", f"{path}/clear", {"task_ids": ["extract"], "downstream": True})
    brisa.settle()
    return path


def moves(answer: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    events = answer["events"]
    return [(e["task_id"], e["from_state"], e["to_state"], e["actor_kind"]) for e in events]


def test_run_events_tell_who_moved_each_task_newest_first(brisa: InProcess) -> None:
    path = failed_then_cleared(brisa)
    answer = brisa.request("GET", f"{path}/events")
    assert answer["next_before"] is None
    extract = [m for m in moves(answer) if m[0] == "extract"]
    assert extract == [
        ("extract", "running", "success", "worker"),
        ("extract", "queued", "running", "worker"),
        ("extract", "pending", "queued", "scheduler"),
        ("extract", "failed", "pending", "api"),
        ("extract", "running", "failed", "worker"),
        ("extract", "queued", "running", "worker"),
        ("extract", "pending", "queued", "scheduler"),
    ]
    ids = [e["id"] for e in answer["events"]]
    assert ids == sorted(ids, reverse=True)
    cleared = next(
        e for e in answer["events"] if e["actor_kind"] == "api" and e["task_id"] == "extract"
    )
    assert cleared["who"] == "API (a person)" and cleared["try_number"] == 1
    assert cleared["at"].endswith(("Z", "+00:00"))


def test_filters_and_pages_match_the_whole_list(brisa: InProcess) -> None:
    path = failed_then_cleared(brisa)
    everything = brisa.request("GET", f"{path}/events")["events"]
    first = brisa.request("GET", f"{path}/events?limit=4")
    rest = brisa.request("GET", f"{path}/events?limit=100&before={first['next_before']}")
    assert first["events"] + rest["events"] == everything
    people = brisa.request("GET", f"{path}/events?actor=api")["events"]
    assert {e["task_id"] for e in people} == {"extract", "load"}  # load went back to pending
    assert all(e["to_state"] == "pending" for e in people)
    failed = brisa.request("GET", f"{path}/events?state=failed&task_id=extract")["events"]
    assert [(e["from_state"], e["try_number"]) for e in failed] == [("running", 1)]
    load = brisa.request("GET", f"{path}/tasks/load/events")["events"]
    assert [e["to_state"] for e in load] == ["success", "running", "queued", "pending",
                                            "upstream_failed"]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("/events?actor=robot", 400, "actor"),
        ("/events?state=done", 400, "state must be a task state"),
        ("/events?task_id=nope", 400, "has no task 'nope'"),
        ("/events?before=0", 400, "before"),
        ("/events?limit=501", 400, "limit"),
        ("/tasks/nope/events", 404, "has no task 'nope'"),
    ],
)
def test_bad_filters_say_what_was_wrong(
    brisa: InProcess, query: str, status: int, words: str
) -> None:
    path = failed_then_cleared(brisa)
    with pytest.raises(ApiFailed) as failed:
        brisa.request("GET", path + query)
    assert failed.value.status == status
    assert words in failed.value.detail


def test_an_unknown_run_is_not_found(brisa: InProcess) -> None:
    failed_then_cleared(brisa)
    with pytest.raises(ApiFailed) as failed:
        brisa.request("GET", f"{brisa.run_path('etl', 'nope')}/events")
    assert failed.value.status == 404 and "no run 'nope'" in failed.value.detail


def test_the_openapi_document_describes_the_events(brisa: InProcess) -> None:
    paths = brisa.request("GET", "/api/v1/openapi.json")["paths"]
    run_events = paths["/api/v1/teams/{team}/dags/{dag_id}/runs/{run_id}/events"]["get"]
    assert {p["name"] for p in run_events["parameters"]} >= {"task_id", "actor", "state",
                                                             "before", "limit"}  # fmt: skip
    assert "/api/v1/teams/{team}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/events" in paths


def test_the_events_tab_and_the_task_history_show_the_same_moves(brisa: InProcess) -> None:
    failed_then_cleared(brisa)
    page = brisa.api.get("/teams/default/dags/etl/runs/r1?tab=events")
    assert page.status_code == 200
    html = page.text
    assert 'aria-current="page">Events<' in html
    assert html.count("data-event=") == len(brisa.request(
        "GET", f"{brisa.run_path('etl', 'r1')}/events")["events"])  # fmt: skip
    assert "API (a person)" in html and ">worker<" in html
    only = brisa.api.get("/teams/default/dags/etl/runs/r1?tab=events&actor=api&task_id=load").text
    assert only.count("data-event=") == 1
    nothing = brisa.api.get("/teams/default/dags/etl/runs/r1?tab=events&state=skipped").text
    assert "No event matches these filters" in nothing and "Show every event" in nothing
    task = brisa.api.get("/teams/default/dags/etl/runs/r1/tasks/extract").text
    assert "History" in task and task.count("data-event=") == 7
    bad = brisa.api.get("/teams/default/dags/etl/runs/r1?tab=events&actor=robot")
    assert bad.status_code == 400 and "actor must be one of" in bad.text
    assert "Traceback" not in bad.text


def test_a_run_nothing_has_moved_in_says_so(brisa: InProcess) -> None:
    with DAG("idle") as dag:
        shell("only", "true")
    brisa.publish(dag)
    brisa.trigger("idle")  # not settled: the scheduler has not queued anything yet
    html = brisa.api.get("/teams/default/dags/idle/runs/r1?tab=events").text
    assert "No task of this run has moved yet" in html
