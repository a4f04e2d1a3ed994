"""The log server: one long-lived log process per fork server, shipping the log of every
attempt whose worker it forked (ADR 0025), instead of a log process forked by each worker.

    fork server, per launch: socketpair -> one end to the log server (SCM_RIGHTS), the other
    to the worker (`LOG_SERVER_FD`)
    worker: a pipe; its read end and the executor's file -> the log server with the spool's
    path, the shipping settings and the worker's secrets; fds 1 and 2 -> the pipe
    log server, one thread for every attempt (`logs.loop`, ADR 0034): what a forked log
    process does (masking, stamping, spooling, chunks, `full.log`), the store calls on a few
    long-lived threads

A worker can reach the log server only through the one connection the fork server made for
it: the server's own socket is closed in every worker and warm process, and nothing listens
on a path. On that connection the attempt is named once, before the task runs
(`logs.drain`); the server never sends a log back. An attempt's spool file is locked
(`flock`) while the server writes it, so the spool sweep leaves it alone until the server
has shipped it (a worker killed alone: the server reads its pipe to the end and ships it).

The server is a grandchild of the fork server (its parent exits at once), in a session of its
own, named `brisa-logs` in the process table: killing an attempt's group, or the fork server,
never reaches it. It exits once the fork server is gone and its last attempt has shipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from brisa.logs.capture import Spool
from brisa.logs.config import ShippingConfig
from brisa.logs.shipper import Shipper
from brisa.logs.shipping import spooled

if TYPE_CHECKING:
    from brisa.objectstore.base import ObjectStore

LOG_SERVER_NAME = "brisa-logs"  # /proc/PID/comm: how `ps` and the bench tell it apart
STORES_KEPT = 4  # log stores kept open, one per location and options (one in practice)


class LogServer:
    """The fork server's side: starts the log server on first use (again if it died) and
    makes one connection per worker."""

    def __init__(self, closing: Callable[[], list[int]]) -> None:
        self._closing = closing  # the fork server's descriptors the log server must not keep
        self._channel: socket.socket | None = None

    def fds(self) -> list[int]:
        """The server's socket: every worker and warm process closes it first."""
        return [self._channel.fileno()] if self._channel is not None else []

    def connect(self, held: Collection[int] = ()) -> socket.socket | None:
        """The worker's end of a new connection to the log server; None when there is no log
        server to be had (the worker then forks a log process of its own). `held`: more
        descriptors a new log server must not keep (the launch's token socket)."""
        for _ in range(2):  # a server that died is replaced once
            if self._channel is None:
                self._channel = self._start(held)
            if self._channel is None:
                return None
            ours, theirs = socket.socketpair()
            try:
                socket.send_fds(self._channel, [b"a"], [theirs.fileno()])
                return ours
            except OSError:
                ours.close()
                self._channel.close()
                self._channel = None
            finally:
                theirs.close()
        return None

    def _start(self, held: Collection[int]) -> socket.socket | None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return None
        if pid == 0:  # never returns
            code = 70
            try:
                ours.close()
                for fd in [*self._closing(), *held]:
                    os.close(fd)
                # The server is a grandchild: its parent exits at once, no process waits for it.
                code = serve(theirs) if os.fork() == 0 else 0
            finally:
                os._exit(code)
        theirs.close()
        return ours


def serve(channel: socket.socket) -> int:
    """The log server: every connection received on `channel` served by one loop
    (`logs.loop`), until the fork server is gone and every attempt has shipped."""
    os.setsid()
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(LOG_SERVER_NAME)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    for sig in (signal.SIGTERM, signal.SIGINT):  # it ends when its attempts have shipped
        signal.signal(sig, signal.SIG_IGN)
    sys.setswitchinterval(0.001)  # the loop must get its turn quickly: the pipes are small
    # Imported here, in the log server only: the fork server imports this module, and every
    # worker (and warm process) is forked from its memory.
    from brisa.logs.loop import Loop

    Loop(channel, opened).run()
    return 0


def opened(opening: dict[str, Any]) -> tuple[Spool, Shipper, bool]:
    """An attempt's spool and shipper, from its worker's opening (settings, spool's path,
    secrets, start time), and whether its log store is a local folder."""
    settings = opening["config"]
    options = MappingProxyType(settings.pop("store_options"))
    config = ShippingConfig(**settings, store_options=options)
    opener = _stores.opener(config)
    path, secrets, origin = Path(opening["path"]), opening["secrets"], opening["origin"]
    local = "://" not in config.location.removeprefix("file://")
    return (*spooled(config, path, secrets, opener, origin), local)


class _Stores:
    """The log stores this server opened, kept for the next attempts with the same location
    and options: building an S3 client costs about 5 ms of CPU (and its connections are
    kept), a local folder's next to nothing. The stores are stateless between calls and safe
    to use from several threads; an attempt with other options gets a store of its own."""

    def __init__(self) -> None:
        self._open: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], ObjectStore] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def opener(self, config: ShippingConfig) -> Callable[[], ObjectStore]:
        key = (config.location, tuple(sorted(config.store_options.items())))

        def open_store() -> ObjectStore:
            with self._lock:
                store = self._open.get(key)
                if store is None:
                    store = self._open[key] = config.open_store()
                    while len(self._open) > STORES_KEPT:
                        self._open.popitem(last=False)
                self._open.move_to_end(key)
                return store

        return open_store


_stores = _Stores()
