"""The log server's one loop (`logs.loop`, ADR 0034): many attempts at once through one
thread, each log masked with its own secrets and complete in the store; a worker gone without
a word still has every line it wrote shipped, and a chunk is in the store while it runs."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from brisa.errors import NotFound
from brisa.logs import loop, server
from brisa.logs.config import ShippingConfig
from brisa.logs.layout import FULL, attempt_prefix, chunk_key
from brisa.objectstore.local import LocalObjectStore

WAIT = 30.0  # seconds before a test gives up on something that must happen


def _message(op: str, **fields: object) -> bytes:
    return json.dumps({"op": op, **fields}).encode() + b"\n"


class Worker:
    """A worker's side of one attempt: its connection, its pipe, its executor's file."""

    def __init__(self, channel: socket.socket, tmp: Path, name: str, **config: object) -> None:
        self.attempt = ["team", "dag", "run", name, 1]
        self.out = tmp / f"{name}.out"
        self.conn, theirs = socket.socketpair()
        socket.send_fds(channel, [b"a"], [theirs.fileno()])
        theirs.close()
        read_end, self.write_end = os.pipe()
        settings = ShippingConfig(location=f"file://{tmp / 'store'}", **config)  # type: ignore[arg-type]
        opening = {
            "path": str(tmp / "spools" / f"{name}.1.spool"),
            "config": {**settings._asdict(), "store_options": {}},
            "secrets": [f"env-secret-{name}"],
            "origin": time.monotonic(),
        }
        out = os.open(self.out, os.O_WRONLY | os.O_CREAT, 0o600)
        socket.send_fds(self.conn, [json.dumps(opening).encode() + b"\n"], [read_end, out])
        os.close(read_end)
        os.close(out)

    def begin(self, secret: str) -> None:
        self.conn.sendall(_message("begin", attempt=self.attempt, secrets=[secret]))

    def print(self, text: str) -> None:
        os.write(self.write_end, text.encode())

    def close(self) -> bytes:
        """Stop writing, say close, wait for the log server's answer."""
        os.close(self.write_end)
        self.conn.sendall(_message("close", timeout=10, grace=2))
        self.conn.settimeout(WAIT)
        answer = self.conn.recv(1)
        self.conn.close()
        return answer

    def key(self) -> str:
        return attempt_prefix(*self.attempt) + FULL


def _serving(tmp_path: Path) -> tuple[socket.socket, threading.Thread, LocalObjectStore]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    thread = threading.Thread(target=loop.Loop(theirs, server.opened).run, daemon=True)
    thread.start()
    return ours, thread, LocalObjectStore(tmp_path / "store")


def _stored(store: LocalObjectStore, key: str) -> bytes:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return store.get(key)
        except NotFound:
            assert time.monotonic() < deadline, f"{key} never reached the store"
            time.sleep(0.01)


def _spooled(path: Path, text: str) -> None:
    deadline = time.monotonic() + WAIT
    while not (path.exists() and text.encode() in path.read_bytes()):
        assert time.monotonic() < deadline, f"{text!r} never reached {path}"
        time.sleep(0.01)


def test_many_attempts_at_once_through_one_loop_each_masked_and_complete(tmp_path: Path) -> None:
    channel, thread, store = _serving(tmp_path)
    before = threading.active_count()
    workers = [Worker(channel, tmp_path, f"t{n}") for n in range(40)]
    for n, worker in enumerate(workers):
        worker.print(f"before begin {n}\n")
        worker.begin(f"begin-secret-{n}")
        worker.print(f"{n}: begin-secret-{n} env-secret-t{n} begin-secret-{(n + 1) % 40}\n")
    for n in range(40):  # every attempt is being served at once ...
        _spooled(tmp_path / "spools" / f"t{n}.1.spool", f"{n}: ***")
    assert threading.active_count() == before  # ... and no thread was started for any
    for worker in workers:
        assert worker.close() == b"d"
    for n, worker in enumerate(workers):
        log = _stored(store, worker.key())
        assert f"before begin {n}\n".encode() in log
        # Its own secrets masked, another attempt's not (each log has its own masker).
        assert f"{n}: *** *** begin-secret-{(n + 1) % 40}\n".encode() in log
        assert worker.out.read_bytes() == b""  # nothing went wrong
    # The spools are gone once full.log is written.
    assert not list((tmp_path / "spools").rglob("*.spool"))
    channel.close()  # the fork server is gone: the loop ends, its attempts shipped
    thread.join(WAIT)
    assert not thread.is_alive()


def test_a_worker_gone_without_a_word_has_every_line_shipped(tmp_path: Path) -> None:
    channel, thread, store = _serving(tmp_path)
    worker = Worker(channel, tmp_path, "killed", chunk_interval=0.2)
    worker.begin("begin-secret-x")
    worker.print("first line\n")
    prefix = attempt_prefix(*worker.attempt)
    # A chunk interval later the line is in the store while the worker still runs.
    assert b"first line" in _stored(store, chunk_key(prefix, 1))
    worker.print("last line, begin-secret-x\n")
    os.close(worker.write_end)
    worker.conn.close()  # killed: no close
    log = _stored(store, worker.key())
    assert b"first line\n" in log and b"last line, ***\n" in log
    assert b"the worker process ended without closing its log (killed?)" in log
    channel.close()
    thread.join(WAIT)
    assert not thread.is_alive()


def test_a_pipe_held_past_the_grace_is_noted_and_the_worker_answered(tmp_path: Path) -> None:
    channel, thread, store = _serving(tmp_path)
    worker = Worker(channel, tmp_path, "held")
    worker.begin("begin-secret-y")
    worker.print("the task's line\n")
    held = os.dup(worker.write_end)  # a process the attempt left behind
    worker.conn.sendall(_message("close", timeout=10, grace=0.1))
    os.close(worker.write_end)
    worker.conn.settimeout(WAIT)
    assert worker.conn.recv(1) == b"d"
    log = _stored(store, worker.key())
    assert b"the task's line\n" in log
    assert b"a process the attempt left behind still holds its output" in log
    os.write(held, b"written after the log ended\n")  # read and dropped, never blocking
    os.close(held)
    channel.close()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert b"written after" not in store.get(worker.key())


def test_a_refused_opening_closes_its_connection_and_the_loop_serves_the_next(
    tmp_path: Path,
) -> None:
    channel, thread, store = _serving(tmp_path)
    conn, theirs = socket.socketpair()
    socket.send_fds(channel, [b"a"], [theirs.fileno()])
    theirs.close()
    read_end, write_end = os.pipe()
    socket.send_fds(conn, [b'{"path": "x"}\n'], [read_end, write_end])  # no settings
    conn.settimeout(WAIT)
    assert conn.recv(1) == b""  # refused: the worker takes its output back
    worker = Worker(channel, tmp_path, "next")
    worker.begin("begin-secret-z")
    worker.print("served\n")
    assert worker.close() == b"d"
    assert b"served\n" in _stored(store, worker.key())
    channel.close()
    thread.join(WAIT)
    assert not thread.is_alive()
