"""The Kubernetes API as the executor sees it: a small port (`KubeApi`) over plain JSON
dicts, shaped as the API server sends them, with typed errors a user can read.

`connect(access)` builds the implementation over lightkube (`lightkube_client.py`). Nothing
here imports lightkube: it is imported by `connect()` only, so local mode and the worker never
pay for it.

Every call has a bounded timeout. An error answer becomes a `KubeError` subclass carrying the
HTTP status, the `reason` and the `message` of the server's `Status` body; a server that does
not answer (refused, timed out, a stream cut) is `Unreachable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from brisa.errors import BrisaError

Json = dict[str, Any]

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeError(BrisaError):
    """An answer of the API server that is not a success (or no answer). `message` says what
    was asked and what the server said; `status` is the HTTP status (0 without one)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status} {self.reason})" if self.status else self.message


class AlreadyExists(KubeError):
    """409 AlreadyExists: for a deterministic pod name, "it is already launched"."""


class NotFound(KubeError):
    """404: the object, or the namespace, does not exist."""


class Gone(KubeError):
    """410 Gone (Expired): the resourceVersion is too old; list again."""


class Forbidden(KubeError):
    """403: RBAC does not allow the verb (or a quota refused the create)."""


class Unauthorized(KubeError):
    """401: the credentials were refused (an expired or wrong token)."""


class Unreachable(KubeError):
    """No answer: connection refused, a timeout, a stream cut, a TLS failure."""


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch: ADDED, MODIFIED, DELETED or BOOKMARK, and the object (a bookmark
    carries only `metadata.resourceVersion`)."""

    type: str
    object: Json


@dataclass(frozen=True)
class ApiAccess:
    """How to reach the API server, in one of three ways:
    - `server` set: that URL, a bearer token read from `token_file` (re-read when refused, so
      a rotated token works), TLS checked against `ca_file` (`insecure` skips the check:
      tests only);
    - `kubeconfig` set: that file, its current context or `context`;
    - neither: in-cluster, the pod's service account (`SERVICE_ACCOUNT`).
    `timeout` bounds every call (seconds); a followed log may be silent `log_idle_timeout`
    seconds before it counts as cut."""

    server: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    service_account: str = SERVICE_ACCOUNT
    timeout: float = 10.0
    log_idle_timeout: float = 300.0

    def describe(self) -> str:
        if self.server:
            return f"the Kubernetes API server at {self.server}"
        if self.kubeconfig:
            context = f", context {self.context}" if self.context else ""
            return f"the Kubernetes API server of kubeconfig {self.kubeconfig}{context}"
        return "the in-cluster Kubernetes API server"


class KubeApi(Protocol):
    """What the Kubernetes executor asks of the API server. Objects are JSON dicts as the
    server sends them."""

    def create_pod(self, namespace: str, manifest: Json) -> Json:
        """The created pod; AlreadyExists when the name is taken."""
        ...

    def get_pod(self, namespace: str, name: str) -> Json | None:
        """The pod, or None when it does not exist."""
        ...

    def list_pods(self, namespace: str, selector: str) -> tuple[list[Json], str]:
        """The pods a label selector matches, and the list's resourceVersion to watch from."""
        ...

    def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> Iterator[WatchEvent]:
        """Changes after `resource_version` (with bookmarks) until the server ends the watch
        after `timeout` seconds. Gone when the version is too old (list again); Unreachable
        when the stream is cut."""
        ...

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> None:
        """Delete (background propagation); a pod already gone is fine."""
        ...

    def review_token(self, token: str, audiences: list[str]) -> Json:
        """A TokenReview of a service account token for `audiences` (cluster scope): its
        `status` (`authenticated`, `user` with `extra`, `audiences`, `error`)."""
        ...

    def pod_events(self, namespace: str, name: str) -> list[Json]:
        """The pod's events, oldest first."""
        ...

    def pod_log(
        self, namespace: str, name: str, container: str | None = None, follow: bool = False
    ) -> Iterator[bytes]:
        """The container's log as it comes; with `follow`, until the container ends."""
        ...

    def check(self, namespace: str) -> None:
        """The start-up probe: the server answers, accepts the credentials, the namespace
        exists and RBAC allows every verb the executor uses; a KubeError naming what is
        wrong otherwise."""
        ...


def connect(access: ApiAccess) -> KubeApi:
    """The lightkube implementation of `KubeApi` for `access` (lightkube is imported now);
    a KubeError when the access settings cannot be used (a missing kubeconfig, no service
    account outside a cluster)."""
    from brisa.executor.kubernetes import lightkube_client

    return lightkube_client.connect(access)
