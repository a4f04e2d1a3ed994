"""Clearing task instances of several runs at once (UI.md A.2.9, story 54):
POST /api/v1/task-instances/clear, a dry run grouped by run, and the acknowledgement an action
over more than 10 runs needs."""

from __future__ import annotations

from brisa import DAG, shell
from brisa.testing.fakes import Fail
from system.inprocess import ApiFailed, InProcess

CLEAR = "/api/v1/task-instances/clear"


def failed_runs(brisa: InProcess, count: int) -> list[str]:
    with DAG("d", retries=0) as dag:
        shell("a", "true") >> shell("b", "true")
    brisa.publish(dag)
    for _ in range(count):
        brisa.executor.script("a", Fail())
    names = [f"r{n}" for n in range(count)]
    for name in names:
        brisa.trigger("d", name)
    brisa.settle()
    return names


def named(runs: list[str]) -> list[dict[str, str]]:
    return [{"team": "default", "dag_id": "d", "run_id": r, "task_id": "a"} for r in runs]


def test_a_dry_run_groups_the_changes_by_run_and_changes_nothing(brisa: InProcess) -> None:
    runs = failed_runs(brisa, 3)
    body = {"instances": named(runs), "downstream": True}
    preview = brisa.request("POST", CLEAR + "?dry_run=true", body)
    assert preview["dry_run"] is True and preview["count"] == 6
    assert [r["run_id"] for r in preview["runs"]] == runs
    assert [c["task_id"] for c in preview["runs"][0]["changes"]] == ["a", "b"]
    assert brisa.states("d", "r0") == {"a": ("failed", 1), "b": ("upstream_failed", 0)}

    done = brisa.request("POST", CLEAR, body)
    assert done["dry_run"] is False and done["count"] == 6
    brisa.settle()
    assert all(brisa.states("d", r) == {"a": ("success", 2), "b": ("success", 1)} for r in runs)


def test_more_than_ten_runs_need_an_acknowledgement(brisa: InProcess) -> None:
    runs = failed_runs(brisa, 11)
    body = {"instances": named(runs)}
    preview = brisa.request("POST", CLEAR + "?dry_run=true", body)
    assert preview["needs_acknowledge"] is True and preview["count"] == 11
    try:
        brisa.request("POST", CLEAR, body)
        raise AssertionError("cleared without an acknowledgement")
    except ApiFailed as refused:
        assert refused.status == 400
        assert "acknowledge" in str(refused.detail)
    assert brisa.states("d", "r0")["a"] == ("failed", 1)
    done = brisa.request("POST", CLEAR, {**body, "acknowledge": True})
    assert done["count"] == 11


def test_unknown_instances_and_empty_selections_are_refused(brisa: InProcess) -> None:
    failed_runs(brisa, 1)
    for body, status in (
        ({"instances": []}, 400),
        ({"instances": named(["nope"])}, 404),
        ({"instances": [{**named(["r0"])[0], "task_id": "zz"}]}, 400),
    ):
        try:
            brisa.request("POST", CLEAR, body)
            raise AssertionError(f"accepted {body}")
        except ApiFailed as refused:
            assert refused.status == status, (body, refused.status, refused.detail)


def test_the_dialog_answers_bad_selections_inline(brisa: InProcess) -> None:
    """The page's bulk dialog: a malformed or empty selection is a 400 message, not a trace."""
    failed_runs(brisa, 1)
    for query in ("", "?ti=nope", '?ti=["default","d"]', '?ti=["default","d","zz","a"]'):
        answer = brisa.api.get("/_/task-instances/actions/clear" + query)
        assert answer.status_code in (400, 404), (query, answer.status_code)
        assert 'class="inline-error"' in answer.text and "Traceback" not in answer.text
    good = brisa.api.get('/_/task-instances/actions/clear?ti=["default","d","r0","a"]')
    assert good.status_code == 200 and "Clear 2 task instances" in good.text
