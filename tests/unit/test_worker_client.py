"""The worker's execution API client: one kept-alive connection per attempt, opened again
after a failure or a long idle spell, and the same error mapping as ever (401/409 stale,
other 4xx refused, 5xx and connection errors retried within the patience)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from brisa.worker import client as client_module
from brisa.worker.client import AttemptStale, ExecutionClient


class _Api(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.connections: set[int] = set()
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.close_after_next = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Api
    protocol_version = "HTTP/1.1"  # keeps connections alive

    def do_POST(self) -> None:
        self.server.connections.add(self.client_address[1])  # the client end's port
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, dict(self.headers), body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        payload = json.dumps({"detail": "no"} if status >= 400 else {"ok": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.server.close_after_next:
            self.server.close_after_next = False
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[_Api]:
    server = _Api()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(api: _Api) -> ExecutionClient:
    return ExecutionClient(api.url, "tok", 7, 2)


def test_calls_share_one_connection_with_the_token(api: _Api) -> None:
    client = _client(api)
    assert client.call("start", {"pid": 1}, patience=1) == {
        "ok": "/execution/v1/attempts/7/2/start"
    }
    client.call("heartbeat", {}, patience=1)
    client.call("finish", {"state": "success"}, patience=1)
    assert client.connections == 1 and len(api.connections) == 1
    paths = [path for path, _, _ in api.requests]
    assert paths == [
        f"/execution/v1/attempts/7/2/{verb}" for verb in ("start", "heartbeat", "finish")
    ]
    assert {headers["Authorization"] for _, headers, _ in api.requests} == {"Bearer tok"}
    assert api.requests[0][2] == {"pid": 1}


def test_a_start_sent_ahead_is_answered_to_its_call_once(api: _Api) -> None:
    client = _client(api)
    client.send_ahead("start", {"pid": 1})
    assert client.call("start", {"pid": 1}, patience=1) == {
        "ok": "/execution/v1/attempts/7/2/start"
    }
    client.call("finish", {"state": "success"}, patience=1)
    assert [body for _, _, body in api.requests] == [{"pid": 1}, {"state": "success"}]
    assert client.connections == 1


def test_a_request_sent_ahead_then_not_called_is_never_mistaken_for_another(api: _Api) -> None:
    client = _client(api)
    client.send_ahead("start", {"pid": 1})
    assert client.call("heartbeat", {}, patience=1) == {
        "ok": "/execution/v1/attempts/7/2/heartbeat"
    }
    assert client.connections == 2  # the start's answer went with its connection


def test_a_start_that_could_not_be_sent_ahead_is_sent_by_its_call() -> None:
    client = ExecutionClient("http://127.0.0.1:9", "tok", 1, 1)  # discard: nothing listens
    client.send_ahead("start", {})  # no error here: the call says what went wrong
    with pytest.raises(RuntimeError, match="unreachable for start"):
        client.call("start", {}, patience=0.1)


def test_a_connection_the_server_closes_is_opened_again(api: _Api) -> None:
    client = _client(api)
    api.close_after_next = True
    client.call("start", {}, patience=1)
    client.call("finish", {}, patience=1)
    assert client.connections == 2 and len(api.connections) == 2


def test_an_idle_connection_is_not_reused(api: _Api, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(api)
    client.call("start", {}, patience=1)
    monkeypatch.setattr(client_module, "IDLE_LIMIT", -1.0)
    client.call("heartbeat", {}, patience=1)
    assert client.connections == 2


@pytest.mark.parametrize("status", [401, 409])
def test_stale_answers(api: _Api, status: int) -> None:
    api.statuses = [status]
    with pytest.raises(AttemptStale, match=str(status)):
        _client(api).call("heartbeat", {}, patience=5)
    assert len(api.requests) == 1


def test_other_refusals_are_not_retried(api: _Api) -> None:
    api.statuses = [422]
    with pytest.raises(RuntimeError, match="refused finish: 422"):
        _client(api).call("finish", {}, patience=5)
    assert len(api.requests) == 1


def test_server_errors_are_retried_on_the_same_connection(api: _Api) -> None:
    api.statuses = [503, 500]
    client = _client(api)
    assert client.call("start", {}, patience=5) == {"ok": "/execution/v1/attempts/7/2/start"}
    assert len(api.requests) == 3 and client.connections == 1


def test_server_errors_beyond_the_patience_fail(api: _Api) -> None:
    api.statuses = [503] * 50
    with pytest.raises(RuntimeError, match="refused start: 503"):
        _client(api).call("start", {}, patience=0.1)


def test_an_unreachable_api_fails_after_the_patience() -> None:
    client = ExecutionClient("http://127.0.0.1:9", "tok", 1, 1)  # discard: nothing listens
    with pytest.raises(RuntimeError, match="unreachable for start"):
        client.call("start", {}, patience=0.1)


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        ExecutionClient("ftp://example.org", "tok", 1, 1)
