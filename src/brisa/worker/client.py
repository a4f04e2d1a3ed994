"""The worker's client of the execution API: one attempt's `start`, `heartbeat` and `finish`
calls, with the attempt's token, over one kept-alive HTTP/1.1 connection (`worker.httpwire`:
no HTTP library on the worker's start-up path, not even `http.client`, see there).

A new connection per call cost both ends an accept, a handshake and a close per call; the
worker now keeps one connection for its attempt. It is dropped and opened again when a call
fails on it, and before a call when it has been idle for `IDLE_LIMIT` seconds: the server
closes idle connections after its own keep-alive timeout (`brisa.system`, longer than this),
and a request written into a connection the server is closing would be lost. Calls from the
heartbeat thread and the main thread take turns on it, one request and answer at a time.

A call's request may be sent ahead (`send_ahead`) and its answer read by the call itself: the
worker sends its start before it sets up its log capture, so that the API's work and the
worker's overlap (ADR 0033).

The worker connects to the API directly: no proxy from the task's environment (`http_proxy`)
ever sees its token.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from brisa.worker import httpwire

IDLE_LIMIT = 4.0  # seconds; below the server's keep-alive timeout (and uvicorn's default 5 s)
CALL_TIMEOUT = 30.0  # seconds for one request and its answer


class AttemptStale(Exception):
    """The API says this attempt is no longer current (cleared, cancelled, timed out), or no
    longer takes this worker's token (a new try or a relaunch replaced it): either way it will
    record nothing from this worker again, which must stop."""


class _Refused(Exception):
    """An HTTP error answer: its status and body."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


@lru_cache(maxsize=4)
def address(api_url: str) -> tuple[bool, str, int, str, str]:
    """The API URL read: https or not, host, port, the `Host` header (host[:port]) and the
    path. Kept per URL: a warm process reads its workers' once (`worker.prebuilt.prebuild`)."""
    url = urlsplit(api_url)
    host = url.hostname
    if url.scheme not in ("http", "https") or not host:
        raise ValueError(f"the execution API URL must be http(s)://host[:port]: {api_url!r}")
    https = url.scheme == "https"
    port = url.port or (443 if https else 80)
    return https, host, port, url.netloc.rpartition("@")[2], url.path.rstrip("/")


class ExecutionClient:
    def __init__(self, api_url: str, token: str, ti_id: int, try_number: int) -> None:
        self._https, self._host, self._port, self._host_field, path = address(api_url)
        self.base = f"{path}/execution/v1/attempts/{ti_id}/{try_number}"
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._conn: socket.socket | None = None
        self._used_at = 0.0
        self._lock = threading.Lock()
        self._ahead: tuple[str, bytes] | None = None  # a request sent, its answer not read
        self.connections = 0  # opened so far (for tests and benchmarks)

    def send_ahead(self, verb: str, body: dict[str, Any]) -> None:
        """Send `verb`'s request now; the next `call` of `verb` with the same body reads its
        answer instead of sending it again. A failure here is left to that call (the
        request is sent again, as after any connection failure)."""
        data = json.dumps(body).encode()
        request = httpwire.request(self._host_field, f"{self.base}/{verb}", self._headers, data)
        with self._lock:
            try:
                self._connection().sendall(request)
            except OSError:
                self._drop()
                return
            self._ahead = (verb, data)

    def call(self, verb: str, body: dict[str, Any], *, patience: float) -> Any:
        """POST with retries on connection errors and 5xx answers for up to `patience`
        seconds. Raises AttemptStale on a 409 or 401, RuntimeError when refused otherwise or
        unreachable for that long."""
        deadline = time.monotonic() + patience
        delay = 0.2
        data = json.dumps(body).encode()
        while True:
            try:
                return self._exchange(verb, data)
            except _Refused as exc:
                if exc.status in (401, 409):
                    raise AttemptStale(str(exc)) from None
                if exc.status < 500 or time.monotonic() > deadline:
                    raise RuntimeError(f"execution API refused {verb}: {exc}") from None
            except OSError as exc:  # connection errors and answers that are not HTTP
                if time.monotonic() > deadline:
                    raise RuntimeError(f"execution API unreachable for {verb}: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _exchange(self, verb: str, data: bytes) -> Any:
        """One request and its answer on the kept connection (opened when needed); the
        connection is dropped on any failure, and kept after an HTTP error answer."""
        request = httpwire.request(self._host_field, f"{self.base}/{verb}", self._headers, data)
        with self._lock:
            ahead, self._ahead = self._ahead, None
            try:
                if ahead == (verb, data) and self._conn is not None:
                    answer = httpwire.answer(self._conn)
                else:
                    if ahead is not None:  # another call first: that answer is never read
                        self._drop()
                    answer = httpwire.exchange(self._connection(), request)
            except BaseException:
                self._drop()
                raise
            self._used_at = time.monotonic()
            if answer.will_close:
                self._drop()
        if answer.status >= 400:
            raise _Refused(answer.status, answer.body.decode(errors="replace"))
        return json.loads(answer.body) if answer.body else None

    def _connection(self) -> socket.socket:
        if self._conn is not None and time.monotonic() - self._used_at > IDLE_LIMIT:
            self._drop()  # the server may be closing it right now
        if self._conn is None:
            self._conn = httpwire.connect(self._host, self._port, CALL_TIMEOUT, self._https)
            self.connections += 1
        return self._conn

    def _drop(self) -> None:
        self._ahead = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def exchange_pod_token(
    api_url: str, ti_id: int, try_number: int, pod_token: str, *, patience: float = 60.0
) -> str:
    """The attempt's execution token, for this pod's projected service account token (ADR
    0029). Raises AttemptStale when the API refuses the pod (401, 409: not this attempt's pod,
    or the attempt started or ended), RuntimeError when it refuses otherwise (403: the pod is
    not the attempt's) or cannot be reached for `patience` seconds (503s are retried)."""
    client = ExecutionClient(api_url, pod_token, ti_id, try_number)
    try:
        answer = client.call("exchange", {}, patience=patience)
    finally:
        client.close()
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise RuntimeError(f"execution API answered exchange without a token: {answer!r}")
    return token
