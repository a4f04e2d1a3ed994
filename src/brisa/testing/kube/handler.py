"""One HTTP request to the fake API server: authentication and RBAC, routing, the verbs of
core/v1 (create, get, list, watch, delete), the `pods/log` subresource, discovery. Streams
(watch, followed logs) are chunked, newline-delimited JSON or plain text, as on a real server."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from brisa.testing.kube.discovery import (
    AUTHN_RESOURCES,
    AUTHZ_RESOURCES,
    GROUPS,
    OPENAPI_ROOT,
    OPENAPI_V1,
    RESOURCES,
    SSAR_PATH,
    TOKEN_REVIEW_PATH,
    VERSION,
    api_versions,
)
from brisa.testing.kube.objects import ApiStatus, Json, default_pod, validate_pod
from brisa.testing.kube.selectors import field_selector, label_selector
from brisa.testing.kube.store import KINDS
from brisa.testing.kube.tables import pod_table, wants_table

if TYPE_CHECKING:
    from brisa.testing.kube.server import FakeApiServer

_PUBLIC = {"/version", "/healthz", "/livez", "/readyz"}


class Dropped(Exception):
    """The connection was closed under a stream (a fault, or the server stopping)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeApiServer  # set on the subclass the server builds

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test reads what it asserts, not an access log."""

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without this, Nagle and delayed ACKs add
        # 40 ms to every answer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.api.connections.add(self.connection)

    def finish(self) -> None:
        self.api.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    # --- entry points ---------------------------------------------------------------------
    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        body = self._body()
        try:
            self._authenticate(url.path)
            self._route(method, url.path.rstrip("/") or "/", params, body)
        except ApiStatus as status:
            self._json(status.code, status.body())
        except (Dropped, OSError):
            self.close_connection = True

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authenticate(self, path: str) -> None:
        token = self.api.token
        if token is None or path in _PUBLIC:
            return
        if self.headers.get("Authorization", "") != f"Bearer {token}":
            raise ApiStatus.unauthorized()

    # --- routing --------------------------------------------------------------------------
    def _route(self, method: str, path: str, params: dict[str, str], body: bytes) -> None:
        parts = path.strip("/").split("/")
        static = {
            "/version": VERSION,
            "/api": api_versions(f"127.0.0.1:{self.api.port}"),
            "/apis": GROUPS,
            "/api/v1": RESOURCES,
            "/openapi/v3": OPENAPI_ROOT,
            "/openapi/v3/api/v1": OPENAPI_V1,
            SSAR_PATH.rsplit("/", 1)[0]: AUTHZ_RESOURCES,
            TOKEN_REVIEW_PATH.rsplit("/", 1)[0]: AUTHN_RESOURCES,
        }
        if method == "GET" and path in static:
            return self._json(200, static[path])
        if path == SSAR_PATH and method == "POST":
            return self._json(201, self.api.review(json.loads(body or b"{}")))
        if path == TOKEN_REVIEW_PATH and method == "POST":
            return self._token_review(body)
        if parts[:2] != ["api", "v1"] or len(parts) < 3:
            raise ApiStatus(404, "NotFound", "the server could not find the requested resource")
        rest = parts[2:]
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        elif rest[0] == "namespaces":
            return self._resource(method, "namespaces", "", rest[1:], params, body)
        else:
            namespace = ""
        return self._resource(method, rest[0], namespace, rest[1:], params, body)

    def _resource(
        self,
        method: str,
        resource: str,
        namespace: str,
        rest: list[str],
        params: dict[str, str],
        body: bytes,
    ) -> None:
        if resource not in KINDS or len(rest) > 2:
            raise ApiStatus(404, "NotFound", "the server could not find the requested resource")
        name = rest[0] if rest else ""
        if len(rest) == 2:
            if (resource, rest[1], method) != ("pods", "log", "GET"):
                raise ApiStatus(404, "NotFound", "the server could not find the requested resource")
            self.api.authorize("get", "pods/log", namespace)
            return self._log(namespace, name, params)
        watching = flag(params, "watch")
        verb = {"POST": "create", "DELETE": "delete"}.get(
            method, "get" if name else ("watch" if watching else "list")
        )
        self.api.authorize(verb, resource, namespace)
        if verb == "create":
            return self._create(resource, namespace, body)
        if verb == "get":
            found = self.api.state.get(resource, namespace, name)
            if resource == "pods" and wants_table(self.headers.get("Accept", "")):
                rv = found["metadata"]["resourceVersion"]
                return self._json(200, pod_table([found], rv))
            return self._json(200, found)
        if verb == "delete":
            return self._delete(resource, namespace, name, params, body)
        namespace_filter = namespace or None
        if verb == "watch":
            return self._watch(resource, namespace_filter, params)
        return self._list(resource, namespace_filter, params)

    def _token_review(self, body: bytes) -> None:
        """`POST .../tokenreviews` (cluster scope): 201 with the review's status, 400 for a
        body that is not a TokenReview with a token."""
        self.api.authorize("create", "tokenreviews", "")
        try:
            review = json.loads(body or b"{}")
        except ValueError as error:
            message = f"the body of the request was not valid JSON: {error}"
            raise ApiStatus.bad_request(message) from None
        if not isinstance(review, dict) or review.get("kind") != "TokenReview":
            raise ApiStatus.bad_request("the body of the request is not a TokenReview")
        if not (review.get("spec") or {}).get("token"):
            raise ApiStatus.invalid("TokenReview", "", [("spec.token", "Required value")])
        self._json(201, self.api.review_token(review))

    # --- verbs ----------------------------------------------------------------------------
    def _create(self, resource: str, namespace: str, body: bytes) -> None:
        try:
            obj = json.loads(body or b"{}")
        except ValueError as error:
            message = f"the body of the request was not valid JSON: {error}"
            raise ApiStatus.bad_request(message) from None
        given = (obj.get("metadata") or {}).get("namespace")
        if given and given != namespace:
            raise ApiStatus.bad_request(
                "the namespace of the provided object does not match the namespace sent on the"
                " request"
            )
        if resource == "pods":
            obj.setdefault("metadata", {})
            if not obj["metadata"].get("name") and obj["metadata"].get("generateName"):
                obj["metadata"]["name"] = obj["metadata"]["generateName"] + str(time.time_ns())[-5:]
            validate_pod(obj)
            default_pod(obj, namespace)
        elif resource == "secrets":
            _fold_string_data(obj)
        self._json(201, self.api.state.create(resource, namespace, obj))

    def _delete(
        self, resource: str, namespace: str, name: str, params: dict[str, str], body: bytes
    ) -> None:
        options = json.loads(body) if body.strip() else {}
        grace = options.get("gracePeriodSeconds", params.get("gracePeriodSeconds"))
        if resource == "pods":
            pod = self.api.state.delete_pod(namespace, name, None if grace is None else int(grace))
            return self._json(200, pod)
        obj = self.api.state.remove(resource, namespace, name)
        details = {"name": name, "kind": resource, "uid": obj["metadata"]["uid"]}
        self._json(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            },
        )

    def _matcher(self, resource: str, params: dict[str, str]) -> Any:
        labels = label_selector(params.get("labelSelector"))
        fields = field_selector(resource, params.get("fieldSelector"))
        return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)

    def _list(self, resource: str, namespace: str | None, params: dict[str, str]) -> None:
        match = self._matcher(resource, params)
        version = params.get("resourceVersion", "")
        if params.get("resourceVersionMatch") == "Exact" and version:
            try:
                self.api.state.check_not_compacted(int(version))
            except ApiStatus:
                raise ApiStatus.gone(
                    "The resourceVersion for the provided list is too old."
                ) from None
        items, rv = self.api.state.list(resource, namespace, match)
        if resource == "pods" and wants_table(self.headers.get("Accept", "")):
            return self._json(200, pod_table(items, str(rv)))
        for item in items:
            item.pop("kind", None)
            item.pop("apiVersion", None)
        kind = KINDS[resource][0]
        self._json(
            200,
            {
                "kind": f"{kind}List",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
        )

    def _watch(self, resource: str, namespace: str | None, params: dict[str, str]) -> None:
        self._start_stream("application/json")
        stream = self.api.watch_stream(
            self, resource, namespace, params, self._matcher(resource, params)
        )
        for event in stream:
            self._chunk(json.dumps(event).encode() + b"\n")
        self._end_stream()

    def _log(self, namespace: str, name: str, params: dict[str, str]) -> None:
        pod = self.api.state.get("pods", namespace, name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = params.get("container") or names[0]
        if container not in names:
            raise ApiStatus.bad_request(f"container {container} is not valid for pod {name}")
        log = self.api.kubelet.log(pod, container)
        if log is None:
            reason = _waiting_reason(pod, container)
            raise ApiStatus.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        stamps = flag(params, "timestamps")
        follow = flag(params, "follow")
        self._start_stream("text/plain")
        index, over = 0, False
        while not over:
            chunks, over = log.read_from(index, 0.5 if follow else 0)
            index += len(chunks)
            data = b"".join(
                (f"{stamp} ".encode() if stamps else b"") + line for stamp, line in chunks
            )
            if data:
                self._chunk(data)
            if not follow or self.api.stopping:
                break
        self._end_stream()

    # --- writing answers ------------------------------------------------------------------
    def _json(self, code: int, body: Json) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as error:
            raise Dropped from error

    def _end_stream(self) -> None:
        self._chunk(b"")

    def drop(self) -> None:
        """Close this connection under the client (a dropped watch)."""
        drop_connection(self.connection)


def drop_connection(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def flag(params: dict[str, str], name: str) -> bool:
    """A boolean query parameter, read as Go's `strconv.ParseBool` reads it."""
    return params.get(name, "").lower() in ("1", "t", "true")


def _fold_string_data(secret: Json) -> None:
    """A Secret's `stringData` is written into `data`, base64, as the API server does."""
    strings = secret.pop("stringData", None) or {}
    data = secret.setdefault("data", {}) or {}
    for key, value in strings.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    secret["data"] = data
    secret.setdefault("type", "Opaque")


def _waiting_reason(pod: Json, container: str) -> str:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status["name"] == container and "waiting" in status["state"]:
            return str(status["state"]["waiting"].get("reason", "ContainerCreating"))
    return "ContainerCreating"
