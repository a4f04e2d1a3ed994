"""The fake API server: real HTTP on 127.0.0.1 (one thread per connection), bearer-token
authentication, injectable RBAC refusals, watches with bookmarks and 410 Gone, and the
switches a test flips to make the network misbehave: drop every open watch, expire the next
watch, duplicate every watch event, be unreachable for a while."""

from __future__ import annotations

import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from socket import socket

from brisa.testing.kube.handler import Handler, drop_connection, flag
from brisa.testing.kube.kubelet import Kubelet
from brisa.testing.kube.objects import ApiStatus, Json
from brisa.testing.kube.store import Change, ClusterState


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about a connection a fault (or the client) closed; loud about the rest."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FakeApiServer:
    """Serves `state` on `port` (0: a free one); `url` once started."""

    def __init__(
        self,
        state: ClusterState,
        kubelet: Kubelet,
        *,
        token: str | None = None,
        port: int = 0,
        tls: tuple[str, str] | None = None,
        bookmark_interval: float = 1.0,
        user: str = "system:serviceaccount:brisa:brisa-scheduler",
    ) -> None:
        self.state, self.kubelet, self.token, self.user = state, kubelet, token, user
        self.port = port
        self.tls = tls  # (certificate file, key file): serve HTTPS
        self.bookmark_interval = bookmark_interval
        self.connections: set[socket] = set()
        self.stopping = False
        self.duplicate_events = False
        self._forbidden: set[tuple[str, str]] = set()
        self._expire_watches = 0
        self._drops = 0  # bumped by drop_watches(): a stream from before it ends
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # --- life cycle -----------------------------------------------------------------------
    def start(self) -> FakeApiServer:
        handler = type("BoundHandler", (Handler,), {"api": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = int(self._server.server_address[1])
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # The handshake happens in the connection's thread, not in the accepting one.
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-kube-apiserver",
        )
        self._thread.start()
        return self

    def _close(self) -> None:
        """Stop accepting and close every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for connection in list(self.connections):
            drop_connection(connection)
        with self.state.changed:
            self.state.changed.notify_all()

    def stop(self) -> None:
        self.stopping = True
        self._close()
        if self._thread is not None:
            self._thread.join(5)

    # --- faults ---------------------------------------------------------------------------
    def forbid(self, verb: str, resource: str) -> None:
        """Answer `verb` on `resource` (`pods`, `pods/log`, `events`...) with 403, as missing
        RBAC would; `allow` undoes it."""
        with self._lock:
            self._forbidden.add((verb, resource))

    def allow(self, verb: str, resource: str) -> None:
        with self._lock:
            self._forbidden.discard((verb, resource))

    def authorize(self, verb: str, resource: str, namespace: str) -> None:
        with self._lock:
            refused = (verb, resource) in self._forbidden
        if refused:
            raise ApiStatus.forbidden(self.user, verb, resource, namespace)

    def review_token(self, review: Json) -> Json:
        """A TokenReview (`satokens.py`): whether a service account token is valid, and for
        whom."""
        return self.kubelet.tokens.review(
            review, lambda namespace, name: self.state.find("pods", namespace, name)
        )

    def review(self, review: Json) -> Json:
        """A SelfSubjectAccessReview answered from the refusals the test set."""
        attributes = review.get("spec", {}).get("resourceAttributes", {})
        resource = attributes.get("resource", "")
        if attributes.get("subresource"):
            resource += "/" + attributes["subresource"]
        with self._lock:
            allowed = (attributes.get("verb", ""), resource) not in self._forbidden
        return {**review, "status": {"allowed": allowed}}

    def drop_watches(self) -> None:
        """Close every open watch connection under its client."""
        with self._lock:
            self._drops += 1
        with self.state.changed:
            self.state.changed.notify_all()

    def expire_next_watch(self, count: int = 1) -> None:
        """The next `count` watch requests get an ERROR event with a 410 Gone Status."""
        with self._lock:
            self._expire_watches += count

    def outage(self, seconds: float) -> None:
        """Refuse connections for `seconds` (returns at once): open connections are closed,
        the port stops listening, then the server comes back on the same port."""
        self._close()

        def come_back() -> None:
            time.sleep(seconds)
            if not self.stopping:
                self.start()

        threading.Thread(target=come_back, daemon=True, name="fake-kube-outage").start()

    # --- watches --------------------------------------------------------------------------
    def watch_stream(
        self,
        handler: Handler,
        resource: str,
        namespace: str | None,
        params: dict[str, str],
        match: Callable[[Json], bool],
    ) -> Iterator[Json]:
        """The events of one watch request, ending at `timeoutSeconds`, a drop or a stop."""
        with self._lock:
            drops = self._drops
        try:
            initial, cursor = self._watch_start(resource, namespace, params, match)
        except ApiStatus as gone:
            yield _error(gone)
            return
        yield from initial
        deadline = time.monotonic() + float(params.get("timeoutSeconds") or 1800)
        bookmarks = flag(params, "allowWatchBookmarks")
        next_bookmark = time.monotonic() + self.bookmark_interval
        while time.monotonic() < deadline and not self.stopping and drops == self._drops:
            try:
                changes, cursor = self._next_changes(resource, namespace, cursor, deadline)
            except ApiStatus as gone:
                yield _error(gone)
                return
            copies = 2 if self.duplicate_events else 1
            for change in changes:
                if match(change.obj):
                    yield from [{"type": change.type, "object": change.obj}] * copies
            if bookmarks and time.monotonic() >= next_bookmark:
                next_bookmark = time.monotonic() + self.bookmark_interval
                yield _bookmark(resource, cursor)
        if drops != self._drops:
            handler.drop()

    def _watch_start(
        self,
        resource: str,
        namespace: str | None,
        params: dict[str, str],
        match: Callable[[Json], bool],
    ) -> tuple[list[Json], int]:
        """The synthetic ADDED events of a watch from "now" (no version, or 0) and the version
        it continues from; 410 Gone when the test expired this watch."""
        version = params.get("resourceVersion", "")
        with self._lock:
            expired = self._expire_watches > 0
            self._expire_watches -= int(expired)
        if expired:
            now = self.state.resource_version
            raise ApiStatus.gone(f"too old resource version: {version or 0} ({now})")
        if version not in ("", "0"):
            return [], int(version)
        items, cursor = self.state.list(resource, namespace, match)
        return [{"type": "ADDED", "object": item} for item in items], cursor

    def _next_changes(
        self, resource: str, namespace: str | None, cursor: int, deadline: float
    ) -> tuple[list[Change], int]:
        """Changes after `cursor` (waiting a little for one), and the version they reach."""
        wait = max(0.0, min(self.bookmark_interval, deadline - time.monotonic(), 0.5))
        with self.state.changed:
            latest = self.state.resource_version
            if latest <= cursor:
                self.state.changed.wait(wait)
                latest = self.state.resource_version
            changes = self.state.changes_after(cursor, resource, namespace)
        return changes, max(cursor, latest)


def _error(status: ApiStatus) -> Json:
    return {"type": "ERROR", "object": status.body()}


def _bookmark(resource: str, version: int) -> Json:
    kind = {"pods": "Pod", "events": "Event"}.get(resource, "Pod")
    return {
        "type": "BOOKMARK",
        "object": {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(version)}},
    }
