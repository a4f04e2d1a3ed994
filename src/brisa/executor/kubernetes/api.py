"""Placeholder of the client adapter (kfake's branch brings the real one): the interface the
executor is written against."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

Json = dict[str, Any]


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


class AlreadyExists(KubeError): ...


class NotFound(KubeError): ...


class Gone(KubeError): ...


class Forbidden(KubeError): ...


class Unauthorized(KubeError): ...


class Unreachable(KubeError): ...


@dataclass(frozen=True)
class WatchEvent:
    type: str
    object: Json


class KubeApi(Protocol):
    def create_pod(self, namespace: str, manifest: Json) -> Json: ...
    def get_pod(self, namespace: str, name: str) -> Json | None: ...
    def list_pods(self, namespace: str, selector: str) -> tuple[list[Json], str]: ...
    def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> Iterator[WatchEvent]: ...
    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> None: ...
    def create_secret(self, namespace: str, manifest: Json) -> Json: ...
    def pod_events(self, namespace: str, name: str) -> list[Json]: ...
    def pod_log(
        self, namespace: str, name: str, container: str | None = None, follow: bool = False
    ) -> Iterator[bytes]: ...
    def check(self, namespace: str) -> None: ...
