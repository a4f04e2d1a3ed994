"""What a browser gets when the server fails while answering (UI.md A.2.14, story 74): a
fragment answers an inline message with a retry and a request id, a page an error page; the id
is in the X-Request-Id header too, and the traceback only goes to the server log under it."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from brisa import DAG, shell
from system.inprocess import InProcess

PANEL = "/teams/default/dags/d/runs/r1/tasks/t"


def crash(*_: Any, **__: Any) -> Any:
    raise RuntimeError("secret internals: do not show me")


@pytest.fixture
def client(brisa: InProcess, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    with DAG("d") as dag:
        shell("t", "true")
    brisa.publish(dag)
    brisa.trigger("d")
    monkeypatch.setattr(brisa.app.state.ctx.queries.pools, "ready_wait", crash)
    return TestClient(
        brisa.app, base_url=brisa.system.settings.api_url, raise_server_exceptions=False
    )


def test_a_failing_fragment_answers_inline_with_a_retry_and_a_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        answer = client.get("/_" + PANEL)
    assert answer.status_code == 500
    request_id = answer.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{12}", request_id)
    assert 'class="inline-error"' in answer.text and f"<code>{request_id}</code>" in answer.text
    assert f'hx-get="{client.base_url}/_{PANEL}"' in answer.text  # Retry fetches it again
    assert "Traceback" not in answer.text and "secret internals" not in answer.text
    assert "<html" not in answer.text  # a fragment, not a page
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_a_failing_page_answers_an_error_page_with_the_request_id(client: TestClient) -> None:
    answer = client.get(PANEL)
    assert answer.status_code == 500
    assert "<html" in answer.text and answer.headers["X-Request-Id"] in answer.text
    assert "Traceback" not in answer.text and "secret internals" not in answer.text
