"""The worker's HTTP/1.1 exchange: the answers a server (or a proxy in front of it) may give,
read whole, and what says whether the connection stays open."""

from __future__ import annotations

import socket
import threading
from typing import NoReturn

import pytest

from brisa.worker import httpwire


def _answered(answer: bytes) -> tuple[httpwire.Answer, bytes]:
    """Exchange one request with a peer that sends `answer` then closes; returns the answer
    read and the request the peer received."""
    ours, theirs = socket.socketpair()
    received = bytearray()

    def peer() -> None:
        with theirs:
            while b"\r\n\r\n{}" not in received:
                received.extend(theirs.recv(4096))
            theirs.sendall(answer)

    thread = threading.Thread(target=peer)
    thread.start()
    with ours:
        request = httpwire.request("api:8080", "/x/start", {"Authorization": "Bearer t"}, b"{}")
        result = httpwire.exchange(ours, request)
    thread.join()
    return result, bytes(received)


def test_the_request_is_one_post_with_host_length_and_headers() -> None:
    _, received = _answered(b"HTTP/1.1 204 No Content\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /x/start HTTP/1.1"
    assert set(lines[1:]) == {b"Host: api:8080", b"Content-Length: 2", b"Authorization: Bearer t"}
    assert body == b"{}"


def test_a_body_by_content_length_keeps_the_connection() -> None:
    answer, _ = _answered(b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{"a":1}')
    assert (answer.status, answer.body, answer.will_close) == (200, b'{"a":1}', False)


def test_a_chunked_body_with_extensions_and_trailers() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b'3;x=y\r\n{"a\r\n4\r\n":1}\r\n0\r\nT: 1\r\n\r\n'
    answer, _ = _answered(raw)
    assert (answer.body, answer.will_close) == (b'{"a":1}', False)


def test_connection_close_and_http_1_0_close_the_connection() -> None:
    closing, _ = _answered(
        b"HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno"
    )
    assert (closing.status, closing.body, closing.will_close) == (409, b"no", True)
    old, _ = _answered(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert old.will_close
    kept, _ = _answered(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}")
    assert not kept.will_close


def test_a_body_without_length_ends_with_the_connection() -> None:
    answer, _ = _answered(b'HTTP/1.1 200 OK\r\n\r\n{"late": true}')
    assert (answer.body, answer.will_close) == (b'{"late": true}', True)


def test_informational_answers_are_skipped() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    answer, _ = _answered(raw)
    assert (answer.status, answer.body) == (200, b"{}")


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # cut short
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"",
    ],
)
def test_what_is_not_a_whole_answer_is_a_connection_error(raw: bytes) -> None:
    with pytest.raises(ConnectionError):
        _answered(raw)


def test_an_ip_address_is_connected_to_without_a_name_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def no_lookup(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("getaddrinfo called for an IP address")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    with listener, httpwire.connect("127.0.0.1", port, 5.0, tls=False) as sock:
        assert sock.getpeername() == ("127.0.0.1", port)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    with pytest.raises(OSError):
        httpwire.connect("127.0.0.1", port, 5.0, tls=False)  # closed: refused, as before
