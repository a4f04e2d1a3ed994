"""The request guard in front of the API: Host names, content types and body sizes, driven
as an ASGI middleware in memory."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from brisa.web.api.guard import Limits, RequestGuard, default_hosts, parse_hosts, quote

CHUNK = 64 << 10


def limits(hosts: str = "", *, max_body: int = 1000, max_finish: int = 5000) -> Limits:
    return Limits(parse_hosts(hosts, default_hosts("127.0.0.1", 8080, "")), max_body, max_finish)


class Served:
    """Drives RequestGuard around an app that reads the whole body and answers 200."""

    def __init__(self, guard_limits: Limits) -> None:
        self.body_seen: bytes | None = None
        self.pulled = 0  # bytes the guard took from the client
        self.guard = RequestGuard(self.app, guard_limits)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.body_seen = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def request(
        self,
        method: str = "POST",
        path: str = "/api/v1/teams/t/dags/d/runs",
        headers: dict[str, str] | None = None,
        chunks: int = 0,
    ) -> tuple[int, str]:
        headers = {"host": "127.0.0.1:8080", "content-type": "application/json", **(headers or {})}
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
        left = chunks

        async def receive() -> dict[str, Any]:
            nonlocal left
            if left <= 0:
                return {"type": "http.request", "body": b"", "more_body": False}
            left -= 1
            self.pulled += CHUNK
            return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        asyncio.run(self.guard(scope, receive, send))
        body = b"".join(m.get("body", b"") for m in sent[1:])
        detail = json.loads(body).get("detail", "") if sent[0]["status"] != 200 else ""
        return sent[0]["status"], detail


def test_a_chunked_body_is_refused_once_it_passes_the_limit_and_not_read_further() -> None:
    served = Served(limits(max_body=3 * CHUNK))
    status, detail = served.request(chunks=1000)  # 64 MiB on offer
    assert status == 413 and "[api] max_body_bytes" in detail
    assert served.pulled == 4 * CHUNK
    assert served.body_seen is None


def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    served = Served(limits(max_body=3 * CHUNK))
    assert served.request(chunks=3)[0] == 200
    assert served.body_seen == b"x" * (3 * CHUNK)


def test_the_finish_call_may_carry_a_return_value() -> None:
    finish = "/execution/v1/attempts/1/1/finish"
    served = Served(limits(max_body=CHUNK, max_finish=4 * CHUNK))
    assert served.request(path=finish, chunks=3)[0] == 200
    assert served.request(path="/execution/v1/attempts/1/1/start", chunks=3)[0] == 413
    assert served.request(headers={"content-length": str(4 * CHUNK + 1)}, path=finish)[0] == 413


def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    served = Served(limits(max_body=10))
    assert served.request(headers={"content-length": "11"}, chunks=5)[0] == 413
    assert served.pulled == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ],
)
def test_json_writes_pass(content_type: str) -> None:
    assert Served(limits()).request(headers={"content-type": content_type})[0] == 200


@pytest.mark.parametrize(
    "content_type",
    ["", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/jsonp", "text/json"],
)  # fmt: skip
def test_writes_a_web_page_can_send_are_refused(content_type: str) -> None:
    served = Served(limits())
    status, detail = served.request(headers={"content-type": content_type})
    assert status == 415 and "Content-Type: application/json" in detail
    assert served.body_seen is None
    assert served.request(method="GET", headers={"content-type": content_type})[0] == 200


def test_a_signed_webhook_passes_whatever_its_type() -> None:
    served = Served(limits())
    form = {"content-type": "application/x-www-form-urlencoded"}
    sync = "/api/v1/repos/analytics/sync"
    assert served.request(path=sync, headers={**form, "x-hub-signature-256": "sha256=0"})[0] == 200
    assert served.request(path=sync, headers={"content-type": "", "x-gitlab-token": "s"})[0] == 200
    assert served.request(path=sync, headers=form)[0] == 415
    signed_elsewhere = {**form, "x-hub-signature-256": "sha256=0"}
    assert served.request(headers=signed_elsewhere)[0] == 415


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8080", 200),
        ("localhost:8080", 200),
        ("LOCALHOST:8080", 200),
        ("[::1]:8080", 200),
        ("localhost:9999", 421),
        ("localhost", 421),
        ("evil.example:8080", 421),
        ("127.0.0.1.evil.example:8080", 421),
    ],
)
def test_only_the_allowed_host_names_are_answered(host: str, status: int) -> None:
    got, detail = Served(limits()).request(
        method="GET", path="/api/v1/dags", headers={"host": host}
    )
    assert got == status
    if status == 421:
        assert "[api] allowed_hosts" in detail and "BRISA__API__ALLOWED_HOSTS" in detail


def test_configured_host_names_replace_the_defaults() -> None:
    served = Served(limits("brisa.example.com, api.internal:8443"))
    get = {"method": "GET", "path": "/api/v1/dags"}
    assert served.request(**get, headers={"host": "brisa.example.com"})[0] == 200
    assert served.request(**get, headers={"host": "brisa.example.com:443"})[0] == 200
    assert served.request(**get, headers={"host": "api.internal:8443"})[0] == 200
    assert served.request(**get, headers={"host": "api.internal:8080"})[0] == 421
    assert served.request(**get, headers={"host": "127.0.0.1:8080"})[0] == 421
    assert Served(limits("*")).request(**get, headers={"host": "any.where"})[0] == 200


def test_probes_and_workers_are_answered_under_any_name() -> None:
    served = Served(limits())
    assert (
        served.request(method="GET", path="/api/v1/health", headers={"host": "10.0.0.7"})[0] == 200
    )
    start = "/execution/v1/attempts/1/1/start"
    assert served.request(path=start, headers={"host": "brisa-api.svc:8080"})[0] == 200


def test_the_default_names_follow_the_bound_host_and_the_public_url() -> None:
    assert default_hosts("127.0.0.1", 8080, "") == [
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
    ]
    assert "brisa.lan:9000" in default_hosts("brisa.lan", 9000, "")
    assert "[fd00::5]:9000" in default_hosts("fd00::5", 9000, "")
    assert "0.0.0.0:8080" not in default_hosts("0.0.0.0", 8080, "")
    public = default_hosts("0.0.0.0", 8080, "http://user@brisa-api.internal:8081/")
    assert "brisa-api.internal:8081" in public


def test_a_quoted_input_is_cut() -> None:
    assert quote("abc") == "'abc'"
    long = quote("z" * 10_000)
    assert len(long) < 250 and "10000 characters" in long
