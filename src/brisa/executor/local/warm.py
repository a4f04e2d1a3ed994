"""Warm processes of the fork server: a DAG file imported once per team, code and file
(`[executor] warm_imports`, on by default; ADR 0014, ADR 0023).

When a launch names what its attempt will run (`WarmKey`: team, code, DAG file), the fork
server (`WarmPool`) forks the attempt's worker from a warm process of that key instead of from
itself, starting the warm process first if there is none. A warm process is a fork of the fork
server in a session of its own, with /dev/null as fds 0-2 and no descriptor of the fork
server's but its own socket: it puts the commit in place (and holds its lease) or takes the
DAG folder, imports the file with the environment a worker's task sees, records the DAGs
(`worker.warmed`), then forks one worker per request, ahead of it (`_Spare`: the next
launch's worker is forked once the last one is handed its launch, and waits for it). The
worker then starts, receives its token, runs, is contained and killed exactly as one forked
by the fork server: only the import is gone from it. The fork server's memory holds no token
(tokens travel as descriptors it never reads), so its copy in a warm process holds none
either.

Nothing is shared beyond its key: no process serves two teams, two commits or two files. A
warm process that cannot put the code in place or import the file, or whose file opts out
(`worker.warmed.OPT_OUT`), tells the pool so and exits; that key is then always started the
ordinary way (the attempt imports the file and reports the error itself). A warm process of a
plain DAG folder (no commit) checks before each fork that the Python files it imported from
the folder, and the folders holding them, are unchanged (`Freshness`); when one changed it
answers "stale" and exits, that launch goes the ordinary way and the next one imports the file
again. At most `limit` warm processes live (the least recently used one is ended for a new
key), and one that receives no request for `idle` seconds exits.

The token never passes through a warm process's memory, nor the fork server's: the executor
writes it into a socket (`token_channel`) whose descriptor goes to the fork server and on to
the warm process (SCM_RIGHTS); only the worker reads it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import socket
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brisa.worker.env import WorkerEnv, know_environment, private
from brisa.worker.warmed import OPT_OUT, Warmed, WarmKey, record

WARM_NAME = "brisa-warm"  # a warm process's name in the process table (/proc/PID/comm)
READY = b"ready"
STALE = b"stale"
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

    def __init__(
        self,
        limit: int = 8,
        idle: float = 300.0,
        *,
        become: Become | None = None,
        channel: socket.socket | None = None,
        closing: Callable[[], list[int]] = list,
    ) -> None:
        self.limit = limit
        self.idle = idle
        self._become = become or _no_worker
        self._channel = channel  # the fork server's request socket: never a warm process's
        self._closing = closing  # more of the fork server's (the log server's socket)
        self._warm: OrderedDict[str, _Warm] = OrderedDict()
        self._refused: OrderedDict[str, None] = OrderedDict()

    def fds(self) -> list[int]:
        """The pool's sockets: a forked worker closes them first."""
        return [w.sock.fileno() for w in self._warm.values()]

    def launch(
        self, request: dict[str, Any], token_fd: int, message: bytes | None = None
    ) -> int | None:
        """The pid of a worker forked from the warm process of the request's key, handed the
        token socket `token_fd` and the log server's connection `request["log_fd"]` (the
        caller closes its copies); None when the request must be forked the ordinary way (no
        key, not warmable, not ready). `message`: the request as it was received, passed on
        as it is (not encoded again)."""
        if not self.limit or not request.get("warm"):
            return None
        name = json.dumps(request["warm"], sort_keys=True)
        if name in self._refused:
            return None
        new = name not in self._warm
        warm = self._start(name, request, token_fd) if new else self._warm[name]
        self._warm.move_to_end(name)
        # The first launch of a key waits for the import (the others would each import the
        # file); a later one while it still runs goes the ordinary way.
        if not warm.ready and not self._await(name, warm, FIRST_WAIT if new else 0):
            return None
        try:
            fds = [token_fd] if request.get("log_fd") is None else [token_fd, request["log_fd"]]
            message = message if message is not None else json.dumps(request).encode()
            warm.sock.sendmsg([message], [_rights(*fds)])
            answer = warm.sock.recv(64)
        except OSError:
            answer = b""
        if answer.strip().isdigit():
            return int(answer)
        self._drop(name)  # gone (idle expiry, killed): this launch goes the ordinary way
        return None

    def _start(self, name: str, request: dict[str, Any], token_fd: int) -> _Warm:
        while len(self._warm) >= self.limit:
            self._drop(next(iter(self._warm)))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                ours.close()
                log_fd = request.get("log_fd")
                self._leave_server([token_fd] if log_fd is None else [token_fd, log_fd])
                code = _serve(theirs, request, self._become, self.idle)
            finally:
                os._exit(code)
        theirs.close()
        return self._warm.setdefault(name, _Warm(pid, ours))

    def _leave_server(self, launching: list[int]) -> None:
        """In a new warm process: close every descriptor of the fork server's (its request
        socket, the other warm processes' sockets, the log server's socket, the launching
        attempt's token socket and log connection), take /dev/null as fds 0-2, and a session
        of its own (killing an attempt's process group never reaches it)."""
        for fd in launching:
            os.close(fd)
        if self._channel is not None:
            self._channel.close()
        for fd in self._closing():
            os.close(fd)
        for other in self._warm.values():
            other.sock.close()
        os.setsid()
        with contextlib.suppress(OSError):  # how `ps` (and the bench) tells it from a worker
            Path("/proc/self/comm").write_text(WARM_NAME)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)

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


def _rights(*fds: int) -> tuple[int, int, bytes]:
    data = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)
    return (socket.SOL_SOCKET, socket.SCM_RIGHTS, data)


def _serve(sock: socket.socket, request: dict[str, Any], become: Become, idle: float) -> int:
    """The warm process: import, say whether that worked, then fork workers until idle (or
    until a file of its plain folder changed)."""
    warmed, fresh = _import(request)
    sys.stdout.flush()  # what the import printed is not a worker's to write
    sys.stderr.flush()
    if warmed is None:
        sock.send(b"refused")
        return 0
    record(warmed)
    from brisa.worker.prebuilt import prebuild

    prebuild(request["env"])  # what every worker of this process would build the same
    know_environment()  # as the import left it: what its workers' environments start from
    gc.freeze()  # the DAGs are every worker's: no worker's collector walks them
    sock.send(READY)
    sock.settimeout(idle)
    spare = _Spare(sock, become)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 2)
        except (TimeoutError, OSError):
            return 0
        if not message or not fds:
            return 0
        if fresh is not None and not fresh.holds():
            for fd in fds:
                os.close(fd)
            sock.send(STALE)  # this launch goes the ordinary way; the next one imports anew
            return 0
        pid = spare.take(message, fds)
        for fd in fds:
            os.close(fd)
        sock.send(str(pid).encode())
        spare = _Spare(sock, become)  # for the next launch, forked while this one starts


class _Spare:
    """A worker forked ahead of its launch: it waits for its request on a socket of its own,
    so that a launch costs the warm process a message instead of a fork, and the new worker
    starts from a process already past the fork. It is still one process per attempt, a fork
    of this warm process and of no other, handed its token only with its launch; it exits
    when its socket closes unused (the warm process exits or goes stale)."""

    def __init__(self, warm_sock: socket.socket, become: Become) -> None:
        self._warm_sock, self._become = warm_sock, become
        self._ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:
            warm_sock.close()  # the worker holds no way to ask for more workers
            self._ours.close()
            _wait_for_launch(theirs, become)
        theirs.close()

    def take(self, message: bytes, fds: list[int]) -> int:
        """Hand the launch (its request, token socket and log connection) to the spare; its
        pid, or the pid of a worker forked now if the spare is gone."""
        try:
            self._ours.sendmsg([message], [_rights(*fds)])
            return self.pid
        except OSError:
            pid = os.fork()
            if pid == 0:
                self._warm_sock.close()
                self._ours.close()
                _launched(message, fds, self._become)
            return pid
        finally:
            self._ours.close()


def _wait_for_launch(sock: socket.socket, become: Become) -> None:
    """In a spare: wait for the launch, then become its worker; exit if none comes."""
    try:
        message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 2)
        if message and fds:
            sock.close()
            _launched(message, fds, become)
    finally:
        os._exit(0)


def _launched(message: bytes, fds: list[int], become: Become) -> None:
    # Read in the worker, not in the warm process: each fork leaves every page of the warm
    # process shared, so each page it writes between two forks is one more copied.
    launch = json.loads(message)
    launch["log_fd"] = fds[1] if len(fds) > 1 else None  # its number in this process
    become(launch, fds[0])


def _import(request: dict[str, Any]) -> tuple[Warmed | None, Freshness | None]:
    """The request's file imported from its code, or None when it cannot or must not be; for
    a plain folder, what must stay unchanged for the import to stay good."""
    from brisa.authoring.loader import load_file
    from brisa.worker.main import put_in_place

    env: dict[str, str] = request["env"]
    config = WorkerEnv.from_env(env)
    if config.run_as_user:
        return None, None  # the file's code would run as Brisa's user: never (ADR 0014)
    key = WarmKey.from_json(request["warm"])
    folder = not key.code.sha  # a plain folder: `Freshness` says when the import went stale
    try:
        # Where the worker would take the code from (`worker.main._code_root`): a commit is
        # leased for this process's life.
        if folder and not key.code.path:
            if not config.dags_folder:
                return None, None
            root = Path(config.dags_folder)
        else:
            root = put_in_place(key.code, config).root
        path = root / key.fileloc
        with open(path, encoding="utf-8", errors="replace") as f:
            if any(line.strip() == OPT_OUT for line in f):
                return None, None
    except Exception:  # noqa: BLE001 - the attempt will say what is wrong, the ordinary way
        return None, None
    os.environ.clear()  # what the file sees at import: a worker's task environment
    os.environ.update({name: value for name, value in env.items() if not private(name)})
    with contextlib.redirect_stdout(sys.stderr):
        dags, error = load_file(path, root)
    if error is not None:
        return None, None
    return Warmed(key, root, dags), Freshness.of(root, path) if folder else None


class Freshness:
    """What a warm import of a plain folder read: the Python files it imported from the
    folder (the DAG file and its helpers) and the folders holding them (a file added, removed
    or replaced by a rename changes its folder), as (inode, size, mtime). The import stays
    good while they all hold."""

    def __init__(self, seen: dict[str, tuple[int, int, int] | None]) -> None:
        self.seen = seen

    @classmethod
    def of(cls, root: Path, dag_file: Path) -> Freshness:
        prefix = str(root).rstrip("/") + "/"
        files = {str(dag_file)}
        for module in list(sys.modules.values()):
            where = getattr(module, "__file__", None) or ""
            if where.startswith(prefix):
                files.add(where)
        paths = files | {os.path.dirname(f) for f in files}
        return cls({path: _signature(path) for path in sorted(paths)})

    def holds(self) -> bool:
        return all(_signature(path) == seen for path, seen in self.seen.items())


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _no_worker(request: dict[str, Any], token_fd: int) -> None:
    raise RuntimeError("a warm pool without `become` cannot start workers")
