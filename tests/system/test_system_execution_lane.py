"""The execution API over HTTP, as a worker calls it (ADR 0032): its well-formed calls are
answered by the execution lane, without the UI and REST stack; every other call goes through
that stack and is answered as it always was. Both must look the same to a worker: the token
checked, 401 and 409 as before, 400 for a body that is not valid, 413 and 415 from the guard,
and the call counted under its route in the API's metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from brisa import DAG, shell
from brisa.testing.fakes import NeverStart
from system.inprocess import InProcess

DAG_ID = "lane"


@pytest.fixture
def attempt(brisa: InProcess) -> tuple[str, str]:
    """A queued attempt whose worker has not called yet: its path prefix and its token."""
    with DAG(DAG_ID) as dag:
        shell("work", "true")
    brisa.publish(dag)
    brisa.executor.script("work", NeverStart())
    brisa.trigger(DAG_ID)
    brisa.settle()
    [(ref, process)] = brisa.processes.live.items()
    return f"/execution/v1/attempts/{ref.ti_id}/{ref.try_number}", process.request.token


def call(
    brisa: InProcess,
    path: str,
    token: str | None,
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    answer = brisa.api.post(path, content=data, headers=headers)
    text = answer.text
    return answer.status_code, (json.loads(text) if text else None)


def test_a_worker_starts_beats_and_finishes_over_http(
    brisa: InProcess, attempt: tuple[str, str]
) -> None:
    path, token = attempt
    status, item = call(brisa, f"{path}/start", token, {"hostname": "w1", "pid": 42})
    assert status == 200 and item["task_id"] == "work" and item["dag_id"] == DAG_ID
    assert brisa.states(DAG_ID) == {"work": ("running", 1)}
    assert call(brisa, f"{path}/heartbeat", token, {}) == (204, None)
    assert call(brisa, f"{path}/finish", token, {"state": "success", "return_value": [1]}) == (
        200,
        {"state": "success"},
    )
    work = brisa.task(DAG_ID, "work")
    assert (work["state"], work["return_value"]) == ("success", [1])
    # Its token is for an attempt that is over now: a conflict, and nothing changes.
    status, answer = call(brisa, f"{path}/finish", token, {"state": "failed", "error": "late"})
    assert status == 409 and "no longer current" in answer["detail"]
    assert brisa.task(DAG_ID, "work")["state"] == "success"


def test_a_wrong_token_is_unauthorized_and_starts_nothing(
    brisa: InProcess, attempt: tuple[str, str]
) -> None:
    path, token = attempt
    start = {"hostname": "w1", "pid": 42}
    for wrong in ("x" * 43, "", None):
        status, answer = call(brisa, f"{path}/start", wrong, start)
        assert status == 401, answer
    other_try = path.rsplit("/", 1)[0] + "/2"
    assert call(brisa, f"{other_try}/start", token, start)[0] == 401
    assert brisa.states(DAG_ID) == {"work": ("queued", 1)}


def test_calls_that_are_not_well_formed_are_answered_as_before(
    brisa: InProcess, attempt: tuple[str, str]
) -> None:
    path, token = attempt
    status, answer = call(brisa, f"{path}/start", token, {"hostname": "w1"})
    assert status == 400 and "pid" in answer["detail"]
    status, answer = call(brisa, f"{path}/start", token, raw=b'{"hostname": "w", "pid": NaN}')
    assert status == 400 and "NaN" in answer["detail"]
    status, answer = call(brisa, f"{path}/start", token, raw=b"{not json")
    assert status == 400 and "not valid JSON" in answer["detail"]
    status, _ = call(brisa, f"{path}/start", token, {"pid": 1}, content_type="text/plain")
    assert status == 415
    status, answer = call(brisa, f"{path}/finish", token, {"state": "skipped"})
    assert status == 400 and "state" in answer["detail"]
    big = brisa.system.settings.api.max_body_bytes + 1
    status, answer = call(brisa, f"{path}/start", token, raw=b" " * big)
    assert status == 413 and "max_body_bytes" in answer["detail"]
    assert brisa.states(DAG_ID) == {"work": ("queued", 1)}  # none of them started it


def test_execution_calls_are_counted_under_their_routes(
    brisa: InProcess, attempt: tuple[str, str]
) -> None:
    path, token = attempt
    call(brisa, f"{path}/start", token, {"hostname": "w1", "pid": 42})
    call(brisa, f"{path}/finish", "x" * 43, {"state": "success"})
    metrics = brisa.api.get("/metrics").text
    route = "/execution/v1/attempts/{ti_id}/{try_number}"
    counted = [line for line in metrics.splitlines() if line.startswith("brisa_api_request")]
    assert any(f'route="{route}/start"' in line and 'status="2xx"' in line for line in counted)
    assert any(f'route="{route}/finish"' in line and 'status="4xx"' in line for line in counted)
