"""The fork server: `python -m brisa.executor.local.forkserver`.

A small process that imports Brisa's worker code once, then forks one worker process per
request. Requests come on a SOCK_SEQPACKET socket whose descriptor is the one argument, one
message each (`{"argv": [...], "env": {...}, "log": path}`) with the attempt's token channel
attached as a descriptor (SCM_RIGHTS); the answer is the new process's pid. The server passes
that descriptor on and never reads a token: every worker is a fork of the server and starts
with a copy of its memory, which therefore must hold no other attempt's token. It never
imports user code. Its children are reaped by the kernel (SIGCHLD ignored) and outlive it:
when the executor goes away (the socket closes) the server exits and workers carry on.
"""

from __future__ import annotations

import codecs
import gc
import json
import os
import signal
import socket
import sys
from typing import Any
from zoneinfo import ZoneInfo

from brisa.executor.local.warm import WarmPool
from brisa.logs.server import LogServer
from brisa.worker.env import LOG_SERVER_FD, TOKEN_FD, know_environment, take_environment

# The worker's code, and what its log process imports to ship the log (logs.layout, the
# local folder store): each attempt would otherwise import them again, on its way out.
PRELOAD = (
    "brisa",
    "brisa.worker.main",
    "brisa.worker.env",
    "brisa.worker.client",
    "brisa.worker.httpwire",
    "brisa.worker.runner",
    "brisa.logs.config",
    "brisa.logs.chunking",
    "brisa.logs.shipping",
    "brisa.logs.server",
    "brisa.logs.shipper",
    "brisa.authoring.loader",
    "brisa.authoring.context",
    "brisa.logs.layout",
    "brisa.objectstore.local",
    "brisa.worker.registry",
    "brisa.worker.containment",
    "brisa.repos.materialise",
    "brisa.worker.warmed",
    # Connecting to the API by host name encodes it with the IDNA codec, loaded on first use
    # (with stringprep and unicodedata): about 1 ms per worker otherwise.
    "encodings.idna",
)


def preload() -> None:
    """What every worker would otherwise do for itself: import its code, compile the default
    `[logs] mask_env_pattern` (the `re` module's cache is inherited), and freeze what exists
    now, so that no worker's garbage collector walks (and copies, page by page) the objects
    it inherited: a full collection in a fork touched every page of this process's heap."""
    for module in PRELOAD:
        __import__(module)
    from brisa.logs.masking import DEFAULT_ENV_PATTERN, secret_names
    from brisa.worker import containment

    secret_names(DEFAULT_ENV_PATTERN)
    containment.prepare()  # libc's prctl, how to list a process's children
    ZoneInfo("UTC")  # a DAG's default time zone, read from disk once (ZoneInfo keeps it)
    codecs.lookup("idna")  # kept by the codec registry: no worker searches for it again
    gc.collect()
    gc.freeze()


MAX_REQUEST = 1 << 20  # a request is one message: the worker's environment and arguments


def become_worker(request: dict[str, Any], token_fd: int, close: list[int] | None = None) -> None:
    """In the forked child: a new session, the attempt's log as stdout/stderr, its env, the
    token on descriptor `token_fd`, its connection to the log server on `request["log_fd"]`
    (if any); the warm processes' and the log server's sockets (`close`) are closed.
    """
    for fd in close or ():
        os.close(fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # shell tasks wait for their children
    os.setsid()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for fd in (log, null):
        if fd > 2:
            os.close(fd)
    # The token reaches the worker as it would after an exec: on a socket it reads at once.
    environ = {**request["env"], TOKEN_FD: str(token_fd)}
    if request.get("log_fd") is not None:
        environ[LOG_SERVER_FD] = str(request["log_fd"])
    take_environment(environ)
    from brisa.worker.main import main

    code = 3
    try:
        code = main(request["argv"], environ)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(channel: socket.socket, warm_limit: int = 0, idle: float = 300.0) -> None:
    """Fork a worker per request; from a warm process of the request's `warm` key when there
    is one (`warm_limit` of them at most, each kept `idle` seconds: ADR 0014)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # no zombies: the kernel reaps children
    preload()
    know_environment()  # its workers take their environment from this one
    logs = LogServer(closing=lambda: [channel.fileno(), *pool.fds()])
    pool = WarmPool(warm_limit, idle, become=become_worker, channel=channel, closing=logs.fds)
    while True:
        message, fds, flags, _ = socket.recv_fds(channel, MAX_REQUEST, 1)
        if not message:
            return  # the executor went away
        if flags & socket.MSG_TRUNC or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            channel.send(b"refused")
            continue
        request, token_fd = json.loads(message), fds[0]
        log = logs.connect(held=[token_fd]) if _ships(request) else None
        request["log_fd"] = log.fileno() if log is not None else None
        pid = pool.launch(request, token_fd, message)
        if pid is None:
            pid = os.fork()
            if pid == 0:
                channel.close()  # the worker holds no way to ask for more workers
                become_worker(request, token_fd, [*pool.fds(), *logs.fds()])
        os.close(token_fd)
        if log is not None:
            log.close()
        channel.send(f"{pid}".encode())


def _ships(request: dict[str, Any]) -> bool:
    """Whether the worker ships its log (a log store is named): then it gets a connection to
    the log server."""
    return bool(request.get("env", {}).get("BRISA_LOGS_LOCATION"))


def _arguments(argv: list[str]) -> tuple[int, float]:
    """`--warm LIMIT IDLE`: warm processes allowed; none without it."""
    if argv[:1] == ["--warm"] and len(argv) == 3:
        return int(argv[1]), float(argv[2])
    return 0, 300.0


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), *_arguments(sys.argv[2:]))
