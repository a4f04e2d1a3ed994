"""A TCP proxy on 127.0.0.1 that can cut every connection through it (a network fault
between a process and its database), with threads: one accepting, two per connection."""

from __future__ import annotations

import contextlib
import socket
import threading

from brisa.testing.server import free_port


class CuttableProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target_port`. `cut()` closes every open
    connection at once (both ends see a reset or end of stream); new ones are accepted."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self.cuts = 0
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._open.discard(sock)

    def cut(self) -> int:
        """Cut every connection now; returns how many sockets were open."""
        with self._lock:
            socks = list(self._open)
        self.cuts += 1
        self._close(*socks)
        return len(socks)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self.cut()
