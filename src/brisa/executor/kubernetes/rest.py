"""`KubeApi` over the core/v1 REST paths, given a transport (`Transport`): the paths, the
query parameters, the JSON as the server sent it (no model round trip that could drop a field),
watch bookmarks, Status bodies turned into typed errors, the start-up check (the verbs of
`rbac.EXECUTOR_ACCESS`, which the executor's Role grants). A client library
only provides the transport (`lightkube_client.py`, `official_client.py`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from brisa.executor.kubernetes.api import (
    AlreadyExists,
    ApiAccess,
    Forbidden,
    Gone,
    Json,
    KubeError,
    NotFound,
    Unauthorized,
    WatchEvent,
)
from brisa.executor.kubernetes.rbac import EXECUTOR_ACCESS, REVIEW_ACCESS, REVIEW_ROLE, ROLE

_ERRORS: dict[int, type[KubeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: AlreadyExists,
    410: Gone,
}


class Transport(Protocol):
    """HTTP to the API server, errors translated: an error answer is `error_from(...)`, no
    answer is `Unreachable` (during a stream's iteration too)."""

    def call(
        self, method: str, path: str, doing: str, params: dict[str, str] | None, body: Json | None
    ) -> Json:
        """One request with a JSON answer."""
        ...

    def stream(
        self, path: str, doing: str, params: dict[str, str], read_timeout: float
    ) -> AbstractContextManager[Iterator[bytes]]:
        """A GET whose body is read as it comes, in chunks; `read_timeout` bounds a silence."""
        ...


def _status_body(body: bytes | Json) -> Json:
    if isinstance(body, dict):
        return body
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    return {"message": body.decode(errors="replace")[:300]}


def error_from(status: int, raw: bytes | Json, doing: str) -> KubeError:
    """The typed error for an error answer, its message from the `Status` body."""
    body = _status_body(raw)
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or reason or "no message")
    kind = _ERRORS.get(status, KubeError)
    if status == 409 and reason != "AlreadyExists":
        kind = KubeError
    if status == 401:
        message = f"{message}: the credentials were refused (an expired or wrong token?)"
    return kind(status, reason or str(status), f"{doing}: {message}")


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Newline-delimited records from chunks cut anywhere."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


class RestApi:
    """The port over one transport (thread-safe when the transport is)."""

    def __init__(self, transport: Transport, access: ApiAccess) -> None:
        self._transport, self._access = transport, access

    def _call(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        params: dict[str, str] | None = None,
        body: Json | None = None,
    ) -> Json:
        return self._transport.call(method, path, doing, params, body)

    # --- the port -------------------------------------------------------------------------
    def create_pod(self, namespace: str, manifest: Json) -> Json:
        name = manifest.get("metadata", {}).get("name", "")
        return self._call(
            "POST",
            f"/api/v1/namespaces/{namespace}/pods",
            f"creating pod {name} in namespace {namespace}",
            body=manifest,
        )

    def get_pod(self, namespace: str, name: str) -> Json | None:
        try:
            return self._call(
                "GET",
                f"/api/v1/namespaces/{namespace}/pods/{name}",
                f"reading pod {name} in namespace {namespace}",
            )
        except NotFound:
            return None

    def list_pods(self, namespace: str, selector: str) -> tuple[list[Json], str]:
        answer = self._call(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            f"listing pods in namespace {namespace}",
            params={"labelSelector": selector} if selector else None,
        )
        return list(answer.get("items") or []), str(answer["metadata"]["resourceVersion"])

    def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> Iterator[WatchEvent]:
        doing = f"watching pods in namespace {namespace}"
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(max(1, int(timeout))),
        }
        if resource_version:
            params["resourceVersion"] = resource_version
        if selector:
            params["labelSelector"] = selector
        path = f"/api/v1/namespaces/{namespace}/pods"
        with self._transport.stream(path, doing, params, timeout + self._access.timeout) as chunks:
            for line in lines(chunks):
                if line.strip():
                    yield self._watch_event(json.loads(line), doing)

    @staticmethod
    def _watch_event(event: Json, doing: str) -> WatchEvent:
        if event.get("type") == "ERROR":
            status = event.get("object") or {}
            raise error_from(int(status.get("code") or 500), status, doing)
        return WatchEvent(str(event["type"]), event["object"])

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> None:
        options: Json = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
        }
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        with contextlib.suppress(NotFound):
            self._call(
                "DELETE",
                f"/api/v1/namespaces/{namespace}/pods/{name}",
                f"deleting pod {name} in namespace {namespace}",
                body=options,
            )

    def review_token(self, token: str, audiences: list[str]) -> Json:
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": list(audiences)},
        }
        answer = self._call(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            "reviewing a pod's service account token",
            body=review,
        )
        status: Json = answer.get("status") or {}
        return status

    def pod_events(self, namespace: str, name: str) -> list[Json]:
        answer = self._call(
            "GET",
            f"/api/v1/namespaces/{namespace}/events",
            f"listing the events of pod {name} in namespace {namespace}",
            params={"fieldSelector": f"involvedObject.name={name},involvedObject.kind=Pod"},
        )
        items = list(answer.get("items") or [])
        return sorted(
            items, key=lambda event: str(event.get("lastTimestamp") or event.get("eventTime") or "")
        )

    def pod_log(
        self, namespace: str, name: str, container: str | None = None, follow: bool = False
    ) -> Iterator[bytes]:
        doing = f"reading the log of pod {name} in namespace {namespace}"
        params = {"follow": "true"} if follow else {}
        if container:
            params["container"] = container
        idle = self._access.log_idle_timeout if follow else self._access.timeout
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
        with self._transport.stream(path, doing, params, idle) as chunks:
            yield from chunks

    def check(self, namespace: str) -> None:
        doing = f"checking access to namespace {namespace}"
        self._call("GET", "/version", doing)
        refused: Forbidden | None = None
        try:
            self._call("GET", f"/api/v1/namespaces/{namespace}/pods", doing, params={"limit": "1"})
        except Forbidden as exc:
            refused = exc  # the reviews below name the verbs, and the Role that grants them
        try:
            self._call("GET", f"/api/v1/namespaces/{namespace}", doing)
        except NotFound:
            raise NotFound(
                404,
                "NotFound",
                f"namespace {namespace} does not exist on {self._access.describe()}",
            ) from None
        except Forbidden:
            pass  # reading namespaces is not in the executor's Role; the list above answered
        missing = [
            f"{verb} {resource}"
            for verb, resource in EXECUTOR_ACCESS
            if not self._allowed(namespace, verb, resource)
        ]
        if missing:
            raise Forbidden(
                403,
                "Forbidden",
                f"the service account may not {', '.join(missing)} in namespace {namespace} "
                f"(RBAC): bind it to the Role {ROLE} there, which grants every verb the "
                "executor uses (`brisa k8s rbac` prints it)",
            )
        unreviewed = [
            f"{verb} {resource}.{group}"
            for verb, resource, group in REVIEW_ACCESS
            if not self._allowed("", verb, resource, group)
        ]
        if unreviewed:
            raise Forbidden(
                403,
                "Forbidden",
                f"the service account may not {', '.join(unreviewed)} at the cluster scope "
                f"(RBAC): bind it to the ClusterRole {REVIEW_ROLE}, with which Brisa's API "
                "checks who a worker pod is (`brisa k8s rbac` prints it)",
            )
        if refused:
            raise refused  # a server without access reviews: its own words

    def _allowed(self, namespace: str, verb: str, resource: str, api_group: str = "") -> bool:
        """A SelfSubjectAccessReview; a server without that API allows (the calls will tell)."""
        group, _, sub = resource.partition("/")
        attributes = {"namespace": namespace, "verb": verb, "resource": group, "group": api_group}
        if sub:
            attributes["subresource"] = sub
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        try:
            answer = self._call(
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                f"checking whether the service account may {verb} {resource}",
                body=review,
            )
        except (NotFound, Forbidden):
            return True
        return bool(answer.get("status", {}).get("allowed"))
