"""What every request passes before a handler sees it: the Host it names, the type of its
body, and the size of that body (docs/adr/0010-browser-borne-requests-and-limits.md).

A plain ASGI middleware rather than a dependency: it must refuse an oversized body while
reading it, and a page in the user's browser before any handler runs.

- **Host.** A web page can make the browser send requests to 127.0.0.1 under a name of the
  attacker's (DNS rebinding); the API answers only to the names of `[api] allowed_hosts`.
  Exempt: health checks and metrics (probes and scrapes come by the pod's address; they say
  nothing secret, ADR 0021) and the execution API (a bearer token per attempt, which no page
  has).
- **Content type.** A browser sends a cross-site POST without asking first only when its body
  is a form, text or absent: a request that changes something must say its body is JSON, which
  a page can only do after a CORS preflight this API never grants. A forge's signed webhook
  (GitHub may send a form) passes by its signature header, which a page cannot set either.
  A write of the web UI (paths under `/_/`) may be a form; it must carry the page's CSRF token
  instead (`web/ui/security.py`).
- **Size.** A body is read up to its limit, never further: a declared `Content-Length` over it
  is refused at once, and a chunked body as soon as its bytes pass it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, MutableMapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.routing import APIRoute

from brisa.core.webhooks import GITHUB_HEADER, GITLAB_HEADER
from brisa.settings import Settings
from brisa.web.ui.security import CSRF_COOKIE, CSRF_HEADER, UI_WRITE_PREFIX, csrf_ok

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
QUOTE_LIMIT = 200  # characters of a caller's input quoted back in an error message
EXEMPT_FROM_HOST = ("/execution/", "/api/v1/health", "/health/", "/metrics")
FINISH = re.compile(r"^/execution/v1/attempts/[^/]+/[^/]+/finish$")
SYNC = re.compile(r"^/api/v1/repos/[^/]+/sync$")
SIGNATURE_HEADERS = (GITHUB_HEADER.lower().encode(), GITLAB_HEADER.lower().encode())
_JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """`value` as repr() quotes it, cut to `limit` characters so that a huge input is never
    sent back whole."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


@dataclass(frozen=True)
class Limits:
    """What the guard lets through; built from the settings by `guard_settings`."""

    allowed_hosts: frozenset[str]  # "name" (any port) or "name:port"; "*" for any
    max_body: int
    max_finish_body: int

    def body_limit(self, path: str) -> int:
        return self.max_finish_body if FINISH.match(path) else self.max_body


def _host_port(url_host: str, port: int) -> str:
    name = f"[{url_host}]" if ":" in url_host and not url_host.startswith("[") else url_host
    return f"{name}:{port}"


def default_hosts(host: str, port: int, public_url: str) -> list[str]:
    """The names the API answers to unless `[api] allowed_hosts` is set."""
    names = [_host_port(name, port) for name in LOCAL_NAMES]
    if host not in WILDCARD_HOSTS:
        names.append(_host_port(host, port))
    if public_url:
        public = urlsplit(public_url)
        if public.hostname:
            names.append(public.netloc.rsplit("@", 1)[-1])
    return list(dict.fromkeys(names))


def parse_hosts(configured: str, default: Iterable[str]) -> frozenset[str]:
    names = [n.strip().lower() for n in configured.split(",") if n.strip()]
    return frozenset(names or [n.lower() for n in default])


def _host_allowed(host: str, allowed: frozenset[str]) -> bool:
    if "*" in allowed or host in allowed:
        return True
    name, _, port = host.rpartition(":")
    if not name or "]" in port:  # no port: "name" or "[::1]"
        name = host
    return name in allowed


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def is_json(content_type: str) -> bool:
    """Whether a Content-Type says the body is JSON (`application/json`, `...+json`)."""
    return bool(_JSON_TYPE.match(content_type.strip()))


def _has_header(scope: Scope, names: Iterable[bytes]) -> bool:
    wanted = set(names)
    return any(key in wanted for key, _ in scope.get("headers", ()))


class Refusal(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RequestGuard:
    """ASGI middleware: refuse foreign hosts, non-JSON writes and oversized bodies."""

    def __init__(self, app: App, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_headers(scope)
            if scope["method"] in BODY_METHODS:
                body = await read_body(receive, self.limits.body_limit(scope["path"]))
                receive = replay(body, receive)
        except Refusal as refusal:
            await refuse(send, refusal)
            return
        except ClientGone:
            return
        await self.app(scope, receive, send)

    def _check_headers(self, scope: Scope) -> None:
        path: str = scope["path"]
        host = header(scope, b"host")
        if host is not None and not path.startswith(EXEMPT_FROM_HOST):
            self._check_host(host.strip().lower())
        if scope["method"] in BODY_METHODS:
            limit = self.limits.body_limit(path)
            declared = (header(scope, b"content-length") or "").strip()
            if declared.isascii() and declared.isdigit() and int(declared) > limit:
                raise _too_large(limit)
            _check_content_type(scope, path)

    def _check_host(self, host: str) -> None:
        if _host_allowed(host, self.limits.allowed_hosts):
            return
        allowed = ", ".join(sorted(self.limits.allowed_hosts))
        raise Refusal(
            421,
            f"this API does not answer to the host name {quote(host)}; if that is a name of "
            f"this server, add it to [api] allowed_hosts (environment: "
            f"BRISA__API__ALLOWED_HOSTS), now: {allowed}",
        )


def _check_content_type(scope: Scope, path: str) -> None:
    if path.startswith(UI_WRITE_PREFIX):
        _check_csrf(scope)
        return
    content_type = header(scope, b"content-type") or ""
    if is_json(content_type):
        return
    if SYNC.match(path) and _has_header(scope, SIGNATURE_HEADERS):
        return  # a forge's signed webhook, whatever its body
    given = f"Content-Type {quote(content_type)}" if content_type else "no Content-Type"
    raise Refusal(
        415,
        f"this request changes something and must say its body is JSON (send Content-Type: "
        f"application/json, with a body of {{}} or none if there is nothing to send); it has "
        f"{given}. Web pages cannot send such requests, which keeps them from acting for you",
    )


def _check_csrf(scope: Scope) -> None:
    """A write of the web UI (a form or button of a Brisa page) carries the page's CSRF token;
    another site's page cannot read it, so it cannot act for the user."""
    cookies = SimpleCookie()
    with contextlib.suppress(CookieError):
        cookies.load(header(scope, b"cookie") or "")
    cookie = cookies[CSRF_COOKIE].value if CSRF_COOKIE in cookies else None
    if csrf_ok(cookie, header(scope, CSRF_HEADER.encode())):
        return
    raise Refusal(
        403,
        "this page's security token is missing or out of date; reload the page and try again",
    )


def _too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        f"request body over {limit} bytes; bodies are limited by [api] max_body_bytes "
        "(and a finish call's return value by [core] max_return_value_bytes)",
    )


class ClientGone(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or Refusal(413) as soon as more than `limit` bytes have come."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += message.get("body", b"")
        if len(body) > limit:
            raise _too_large(limit)
        if not message.get("more_body", False):
            return bytes(body)


def replay(body: bytes, then: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the server's messages
    (a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return pending.pop() if pending else await then()

    return receive


async def refuse(send: Send, refusal: Refusal) -> None:
    payload = json.dumps({"detail": refusal.detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def guard_limits(settings: Settings) -> Limits:
    api = settings.api
    hosts = parse_hosts(api.allowed_hosts, default_hosts(api.host, api.port, api.public_url))
    finish = api.max_body_bytes + settings.core.max_return_value_bytes
    return Limits(hosts, api.max_body_bytes, finish)


def no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


class StrictJsonRequest(Request):
    """A request whose JSON body may not hold NaN or Infinity (Python's json reads them; no
    database stores them, and they are not JSON)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_constant=no_constant)
        return self._json


class StrictJsonRoute(APIRoute):
    """A route that reads JSON bodies with StrictJsonRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
