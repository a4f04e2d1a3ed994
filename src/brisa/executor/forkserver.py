"""The fork server: `python -m brisa.executor.forkserver`.

A small process that imports Brisa's worker code once, then forks one worker process per
request. Requests are JSON lines on stdin (`{"argv": [...], "env": {...}, "log": path,
"token": ...}`); the answer is the new process's pid on stdout. It never imports user code.
Its children are reaped by the kernel (SIGCHLD ignored) and outlive it: when the executor
goes away (stdin closes) the server exits and running workers carry on.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, BinaryIO

from brisa.executor.warm import WarmPool
from brisa.worker.env import TOKEN_FD, token_channel

# The worker's code, and what its log process imports to ship the log (logs.layout, the
# local folder store): each attempt would otherwise import them again, on its way out.
PRELOAD = (
    "brisa",
    "brisa.worker.main",
    "brisa.worker.env",
    "brisa.worker.client",
    "brisa.worker.runner",
    "brisa.logs.config",
    "brisa.logs.chunking",
    "brisa.logs.shipping",
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


def become_worker(request: dict[str, Any], token: int, close: list[int] | None = None) -> None:
    """In the forked child: a new session, the attempt's log as stdout/stderr, its env, the
    token on descriptor `token`.

    Replacing descriptors 0 and 1 also drops the child's copies of the server's pipes; the
    warm processes' sockets (`close`) are closed.
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
    os.environ.clear()
    os.environ.update(request["env"])
    # The token reaches the worker as it would after an exec: on a socket it reads at once.
    os.environ[TOKEN_FD] = str(token)
    from brisa.worker.main import main

    code = 3
    try:
        code = main(request["argv"])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(requests: BinaryIO, answers: BinaryIO, warm_limit: int = 0, idle: float = 300.0) -> None:
    """Fork a worker per request line; from a warm process of the request's `warm` key when
    there is one (`warm_limit` of them at most, each kept `idle` seconds: ADR 0014)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # no zombies: the kernel reaps children
    for module in PRELOAD:
        __import__(module)
    pool = WarmPool(warm_limit, idle)
    for line in requests:
        request = json.loads(line)
        pid = pool.launch(request)
        if pid is None:
            pid = os.fork()
            if pid == 0:
                # The token reaches the worker as it would after an exec: on a socket.
                become_worker(request, token_channel(request.pop("token")), pool.fds())
        answers.write(f"{pid}\n".encode())
        answers.flush()


def _arguments(argv: list[str]) -> tuple[int, float]:
    """`--warm LIMIT IDLE`: warm processes allowed; none without it."""
    if argv[:1] == ["--warm"] and len(argv) == 3:
        return int(argv[1]), float(argv[2])
    return 0, 300.0


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer, *_arguments(sys.argv[1:]))
