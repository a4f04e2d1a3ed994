"""One HTTP/1.1 connection of the worker: a request written in one send, its answer read back
(status, headers, a body by `Content-Length`, chunks or the connection's end).

The worker's calls (`worker.client`) went through `http.client`, whose answers are parsed by
the `email` package: in a worker forked by the fork server, the first call ran (and so copied,
page by page, on first write) dozens of functions and objects it inherited, about 1 ms of CPU
and 300 page faults per attempt, for a few lines of headers. This reads what the execution
API's answers hold, and nothing more: no proxy, no cookies, no redirects, no `Expect`.
"""

from __future__ import annotations

import socket

MAX_LINE = 1 << 16  # a status or header line longer than this is not an answer of ours
MAX_HEADERS = 100
READ_BYTES = 1 << 16


class BadAnswer(ConnectionError):
    """What came back is not an HTTP/1.x answer (the connection is dropped, the call retried
    like any other connection failure)."""


class Answer:
    def __init__(self, status: int, body: bytes, will_close: bool) -> None:
        self.status = status
        self.body = body
        self.will_close = will_close  # the server closes the connection after this answer


def connect(host: str, port: int, timeout: float, tls: bool) -> socket.socket:
    """A TCP connection (TLS with the system's default verification for `tls`), Nagle off:
    each request goes out in one segment at once."""
    sock = _numeric(host, port, timeout) or socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            import ssl  # only for https: its start-up is not every worker's

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    return sock


def _numeric(host: str, port: int, timeout: float) -> socket.socket | None:
    """A connection to `host` when it is an IP address (the local executor's API URL is
    `http://127.0.0.1:PORT`), made without `getaddrinfo`: libc's resolver code and data, and
    `create_connection`'s loop, are pages a forked worker would copy for an answer it already
    has (ADR 0042). None when `host` is a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock
    return None


def request(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A POST request with its body, as one block of bytes."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(sock: socket.socket, data: bytes) -> Answer:
    """Send a request, read its answer (informational 1xx answers are skipped)."""
    sock.sendall(data)
    return answer(sock)


def answer(sock: socket.socket) -> Answer:
    """Read the answer to the request last sent on `sock` (1xx answers are skipped)."""
    reader = _Reader(sock)
    while True:
        version, status = _status(reader.line())
        fields = _headers(reader)
        if not 100 <= status < 200:
            break
    connection = fields.get("connection", "").lower()
    will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
    if status in (204, 304):
        return Answer(status, b"", will_close)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return Answer(status, _chunked(reader), will_close)
    length = fields.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadAnswer(f"bad Content-Length: {length!r}")
        return Answer(status, reader.exactly(int(length)), will_close)
    return Answer(status, reader.rest(), True)  # the body ends with the connection


def _status(line: bytes) -> tuple[str, int]:
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadAnswer(f"not an HTTP answer: {line[:80]!r}")
    return parts[0], int(parts[1])


def _headers(reader: _Reader) -> dict[str, str]:
    """Header fields by lower-case name (a repeated one keeps its last value)."""
    fields: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = reader.line()
        if not line:
            return fields
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    raise BadAnswer("too many header lines")


def _chunked(reader: _Reader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = reader.line().split(b";", 1)[0].strip()
        try:
            length = int(size, 16)
        except ValueError:
            raise BadAnswer(f"bad chunk size: {size[:20]!r}") from None
        if length == 0:
            while reader.line():  # trailer fields, then the blank line
                pass
            return b"".join(parts)
        parts.append(reader.exactly(length))
        if reader.line():
            raise BadAnswer("a chunk not followed by its line end")


class _Reader:
    """Bytes of one answer, read from the socket as needed."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _more(self) -> bool:
        data = self._sock.recv(READ_BYTES)
        self._buffer += data
        return bool(data)

    def line(self) -> bytes:
        """The next line, without its end (CRLF, or a bare LF)."""
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_LINE:
                raise BadAnswer("a line too long")
            if not self._more():
                raise BadAnswer("the connection closed before the answer ended")
        line = bytes(self._buffer[:end]).rstrip(b"\r")
        del self._buffer[: end + 1]
        return line

    def exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._more():
                raise BadAnswer("the connection closed before the answer ended")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def rest(self) -> bytes:
        while self._more():
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
