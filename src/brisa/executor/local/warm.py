"""Warm processes of the fork server: a DAG file imported once per team, commit and file
(`[executor] warm_imports`, ADR 0014).

When a launch names what its attempt will run (`WarmKey`: team, pinned code, DAG file), the fork
server (`WarmPool`) forks the attempt's worker from a warm process of that key instead of from
itself, starting the warm process first if there is none. A warm process is a child of the
fork server in a session of its own, a new interpreter (nothing of the fork server's memory
reaches it): it puts the commit in place (and
holds its lease), imports the file with the environment a worker's task sees, records the
DAGs (`worker.warmed`), then forks one worker per request. The worker then starts, receives
its token, runs, is contained and killed exactly as one forked by the fork server: only the
import is gone from it.

Nothing is shared beyond its key: no process serves two teams, two commits or two files. A
warm process that cannot put the code in place or import the file, or whose file opts out
(`worker.warmed.OPT_OUT`), tells the pool so and exits; that key is then always started the
ordinary way (the attempt imports the file and reports the error itself). At most `limit`
warm processes live (the least recently used one is ended for a new key), and one that
receives no request for `idle` seconds exits.

The token never passes through a warm process's memory, nor the fork server's: the executor
writes it into a socket (`token_channel`) whose descriptor goes to the fork server and on to
the warm process (SCM_RIGHTS); only the worker reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from brisa.worker.env import WorkerEnv, private
from brisa.worker.warmed import OPT_OUT, Warmed, WarmKey, record

READY = b"ready"
MAX_MESSAGE = 1 << 20
FIRST_WAIT = 30.0  # how long the first launch of a key waits for its import (then: cold)
REFUSED_KEPT = 1024  # keys remembered as not warmable

Become = Callable[[dict[str, Any], int], None]  # a forked child turns into the worker


class _Warm:
    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self.ready = False


class WarmPool:
    """The fork server's warm processes, by key."""

    def __init__(self, limit: int = 8, idle: float = 300.0) -> None:
        self.limit = limit
        self.idle = idle
        self._warm: OrderedDict[str, _Warm] = OrderedDict()
        self._refused: OrderedDict[str, None] = OrderedDict()

    def fds(self) -> list[int]:
        """The pool's sockets: a forked worker closes them first."""
        return [w.sock.fileno() for w in self._warm.values()]

    def launch(self, request: dict[str, Any], token_fd: int) -> int | None:
        """The pid of a worker forked from the warm process of the request's key, handed the
        token socket `token_fd` (the caller closes its copy); None when the request must be
        forked the ordinary way (no key, not warmable, not ready)."""
        if not self.limit or not request.get("warm"):
            return None
        name = json.dumps(request["warm"], sort_keys=True)
        if name in self._refused:
            return None
        new = name not in self._warm
        warm = self._start(name, request) if new else self._warm[name]
        self._warm.move_to_end(name)
        # The first launch of a key waits for the import (the others would each import the
        # file); a later one while it still runs goes the ordinary way.
        if not warm.ready and not self._await(name, warm, FIRST_WAIT if new else 0):
            return None
        try:
            warm.sock.sendmsg([json.dumps(request).encode()], [_rights(token_fd)])
            answer = warm.sock.recv(64)
        except OSError:
            answer = b""
        if answer.strip().isdigit():
            return int(answer)
        self._drop(name)  # gone (idle expiry, killed): this launch goes the ordinary way
        return None

    def _start(self, name: str, request: dict[str, Any]) -> _Warm:
        while len(self._warm) >= self.limit:
            self._drop(next(iter(self._warm)))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                _exec_warm(theirs, self.idle)
            finally:
                os._exit(3)
        theirs.close()
        warm = self._warm[name] = _Warm(pid, ours)
        with contextlib.suppress(OSError):  # it died at once: `_await` reads the end
            ours.send(json.dumps(request).encode())
        return warm

    def _await(self, name: str, warm: _Warm, timeout: float) -> bool:
        """Whether the warm process has imported its file (waiting up to `timeout`)."""
        readable, _, _ = select.select([warm.sock], [], [], timeout)
        if not readable:
            return False
        warm.ready = warm.sock.recv(64) == READY
        if not warm.ready:  # it could not import (or opted out): never warm this key
            self._drop(name)
            self._refused[name] = None
            while len(self._refused) > REFUSED_KEPT:
                self._refused.popitem(last=False)
        return warm.ready

    def _drop(self, name: str) -> None:
        warm = self._warm.pop(name, None)
        if warm is not None:
            warm.sock.close()  # the warm process reads the end of its socket and exits


def _rights(fd: int) -> tuple[int, int, bytes]:
    return (socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))


def _exec_warm(sock: socket.socket, idle: float) -> None:
    """In the fork server's child: a new interpreter
    (`python -m brisa.executor.local.warm FD IDLE`), so that nothing of the fork server's memory
    reaches the warm process or the workers it forks. Costs one interpreter start per key."""
    os.setsid()  # killing an attempt's process group never reaches it
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the fork server's pipes are not its; the other sockets close at exec
        os.dup2(null, fd)
    os.close(null)
    os.set_inheritable(sock.fileno(), True)
    argv = [sys.executable, "-m", "brisa.executor.local.warm", str(sock.fileno()), repr(idle)]
    os.execv(sys.executable, argv)


def _serve(sock: socket.socket, request: dict[str, Any], become: Become, idle: float) -> int:
    """The warm process: import, say whether that worked, then fork workers until idle."""
    warmed = _import(request)
    sys.stdout.flush()  # what the import printed is not a worker's to write
    sys.stderr.flush()
    if warmed is None:
        sock.send(b"refused")
        return 0
    record(warmed)
    sock.send(READY)
    sock.settimeout(idle)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 1)
        except (TimeoutError, OSError):
            return 0
        if not message or not fds:
            return 0
        pid = os.fork()
        if pid == 0:
            sock.close()
            become(json.loads(message), fds[0])
        os.close(fds[0])
        sock.send(str(pid).encode())


def _import(request: dict[str, Any]) -> Warmed | None:
    """The request's file imported from its code, or None when it cannot or must not be."""
    from brisa.authoring.loader import load_file
    from brisa.worker.main import put_in_place

    env: dict[str, str] = request["env"]
    config = WorkerEnv.from_env(env)
    if config.run_as_user:
        return None  # the file's code would run as Brisa's user: never warm (ADR 0014)
    key = WarmKey.from_json(request["warm"])
    if not key.code.sha:
        return None  # a plain folder may change under us: only commits are warmed
    try:
        held = put_in_place(key.code, config)  # leased for this process's life
        path = held.root / key.fileloc
        with open(path, encoding="utf-8", errors="replace") as f:
            if any(line.strip() == OPT_OUT for line in f):
                return None
    except Exception:  # noqa: BLE001 - the attempt will say what is wrong, the ordinary way
        return None
    os.environ.clear()  # what the file sees at import: a worker's task environment
    os.environ.update({name: value for name, value in env.items() if not private(name)})
    with contextlib.redirect_stdout(sys.stderr):
        dags, error = load_file(path, held.root)
    if error is not None:
        return None
    return Warmed(key, held.root, dags)


def main(argv: list[str]) -> int:
    """`python -m brisa.executor.local.warm FD IDLE`: started by `WarmPool`; the first message on
    socket FD is the request (without its token) whose key this process is for."""
    from brisa.executor.local.forkserver import PRELOAD, become_worker

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps its workers
    for module in PRELOAD:
        __import__(module)
    sock = socket.socket(fileno=int(argv[0]))
    request = json.loads(sock.recv(MAX_MESSAGE) or b"null")
    if not isinstance(request, dict):
        return 0
    return _serve(sock, request, become_worker, float(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
