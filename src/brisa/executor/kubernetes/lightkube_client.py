"""`KubeApi` over lightkube: lightkube reads the access (kubeconfig, in-cluster service
account, token file with rotation, exec plugins, TLS) and builds the HTTP client; the calls
themselves go to the core/v1 REST paths and keep the JSON as the server sent it (no model
round trip that could drop a field, and watch bookmarks, which lightkube's `watch` does not
ask for). Imported only by `api.connect()`."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError

from brisa.executor.kubernetes.api import (
    AlreadyExists,
    ApiAccess,
    Forbidden,
    Gone,
    Json,
    KubeError,
    NotFound,
    Unauthorized,
    Unreachable,
    WatchEvent,
)

# Every verb the executor uses, checked by `check()` at start-up.
REQUIRED_ACCESS = (
    ("create", "pods"),
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("delete", "pods"),
    ("get", "pods/log"),
    ("list", "events"),
    ("create", "secrets"),
)
_ERRORS: dict[int, type[KubeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: AlreadyExists,
    410: Gone,
}


def _single_config(access: ApiAccess) -> SingleConfig:
    if access.server:
        cluster = Cluster(
            server=access.server, certificate_auth=access.ca_file, insecure=access.insecure
        )
        config = KubeConfig.from_one(cluster=cluster, user=User(token_file=access.token_file))
    elif access.kubeconfig:
        config = KubeConfig.from_file(access.kubeconfig)
    else:
        try:
            config = KubeConfig.from_service_account(access.service_account)
        except KeyError as missing:
            raise ConfigError(f"{missing} is not set: Brisa is not running in a pod") from None
    single = config.get(context_name=access.context)
    if single is None:
        raise ConfigError(f"no context {access.context or '(current)'} in the kubeconfig")
    return single


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


class LightkubeApi:
    """One HTTP client (kept-alive connections, thread-safe) for every call."""

    def __init__(self, client: httpx.Client, access: ApiAccess) -> None:
        self._client, self._access = client, access
        self._where = access.describe()

    @classmethod
    def connect(cls, access: ApiAccess) -> LightkubeApi:
        try:
            config = _single_config(access)
        except ConfigError as error:
            raise KubeError(
                0, "ConfigError", f"cannot reach {access.describe()}: {error}"
            ) from None
        server = config.cluster.server
        loopback = urllib.parse.urlsplit(server).hostname in ("127.0.0.1", "localhost", "::1")
        params = ConnectionParams(timeout=httpx.Timeout(access.timeout), trust_env=not loopback)
        try:
            options = params.httpx_params(config)
        except (ConfigError, OSError) as error:
            raise KubeError(0, "ConfigError", f"cannot use {access.describe()}: {error}") from None
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
        return cls(httpx.Client(**options, limits=limits), access)

    def close(self) -> None:
        self._client.close()

    # --- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Transport failures as Unreachable, credential files as KubeError."""
        try:
            yield
        except httpx.TimeoutException:
            raise Unreachable(
                0,
                "Timeout",
                f"{doing}: {self._where} did not answer within {self._access.timeout:g}s",
            ) from None
        except httpx.TransportError as error:
            raise Unreachable(
                0,
                "Unreachable",
                f"{doing}: {self._where} is unreachable ({error or type(error).__name__})",
            ) from None
        except ConfigError as error:
            raise KubeError(0, "ConfigError", f"{doing}: {error}") from None

    def _call(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        params: dict[str, Any] | None = None,
        body: Json | None = None,
    ) -> Json:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        with self._errors(doing):
            response = self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        if response.status_code >= 400:
            raise error_from(response.status_code, response.content, doing)
        result: Json = response.json()
        return result

    @contextmanager
    def _stream(
        self, path: str, doing: str, params: dict[str, Any], read_timeout: float
    ) -> Iterator[httpx.Response]:
        timeout = httpx.Timeout(self._access.timeout, read=read_timeout)
        with (
            self._errors(doing),
            self._client.stream("GET", path, params=params, timeout=timeout) as response,
        ):
            if response.status_code >= 400:
                raise error_from(response.status_code, response.read(), doing)
            yield response

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
        with (
            self._stream(path, doing, params, timeout + self._access.timeout) as response,
            self._errors(doing),
        ):
            for line in response.iter_lines():
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

    def create_secret(self, namespace: str, manifest: Json) -> Json:
        name = manifest.get("metadata", {}).get("name", "")
        return self._call(
            "POST",
            f"/api/v1/namespaces/{namespace}/secrets",
            f"creating secret {name} in namespace {namespace}",
            body=manifest,
        )

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
        with self._stream(path, doing, params, idle) as response, self._errors(doing):
            yield from response.iter_bytes()

    def check(self, namespace: str) -> None:
        doing = f"checking access to namespace {namespace}"
        self._call("GET", "/version", doing)
        self._call("GET", f"/api/v1/namespaces/{namespace}/pods", doing, params={"limit": "1"})
        try:
            self._call("GET", f"/api/v1/namespaces/{namespace}", doing)
        except NotFound:
            raise NotFound(
                404, "NotFound", f"namespace {namespace} does not exist on {self._where}"
            ) from None
        except Forbidden:
            pass  # reading namespaces is not in the executor's Role; the list above answered
        missing = [
            f"{verb} {resource}"
            for verb, resource in REQUIRED_ACCESS
            if not self._allowed(namespace, verb, resource)
        ]
        if missing:
            raise Forbidden(
                403,
                "Forbidden",
                f"the service account may not {', '.join(missing)} in namespace {namespace} (RBAC)",
            )

    def _allowed(self, namespace: str, verb: str, resource: str) -> bool:
        """A SelfSubjectAccessReview; a server without that API allows (the calls will tell)."""
        group, _, sub = resource.partition("/")
        attributes = {"namespace": namespace, "verb": verb, "resource": group, "group": ""}
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
