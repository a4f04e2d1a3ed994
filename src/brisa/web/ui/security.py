"""What every UI response carries and every UI write must show: a strict Content-Security-Policy
(no inline scripts, no eval), and a CSRF token (double submit: a cookie, echoed in the
`X-CSRF-Token` header that `<body hx-headers>` adds to every htmx request)."""

from __future__ import annotations

import hmac
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "brisa_csrf"
CSRF_HEADER = "x-csrf-token"
UI_WRITE_PREFIX = "/_/"  # every UI write is a fragment request under /_/

# Style attributes are allowed (positions of Gantt bars, graph nodes); <style> elements and
# every script that is not a file of this server are not.
CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(cookie: str | None, header: str | None) -> bool:
    """Whether a write shows the token its browser was given (compared in constant time)."""
    if not cookie or not header:
        return False
    return hmac.compare_digest(cookie.encode(), header.encode())


def is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)


class SecurityHeaders:
    """Adds the CSP and its companions to every HTML answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if is_html(headers):
                    message["headers"] = headers + HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)
