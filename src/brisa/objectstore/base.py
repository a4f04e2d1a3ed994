"""The port and the factory that picks an implementation from a location URL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from brisa.errors import BrisaError, ConfigError


class StoreUnavailable(BrisaError):
    """The object store could not be reached or refused the request; retry later."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


class ObjectStore(Protocol):
    location: str

    def put(self, key: str, data: bytes) -> None:
        """Write (or replace) the object at `key` in one piece."""

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end) of the object (end None: to its end). NotFound if missing."""

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with `prefix`, sorted by key."""

    def delete(self, keys: Iterable[str]) -> None:
        """Remove objects; missing ones are ignored."""


def open_object_store(location: str, options: Mapping[str, str] | None = None) -> ObjectStore:
    """`file:///path` (or a plain path) for a local folder, `s3://bucket/prefix` for S3.

    `options` are the S3 settings (endpoint, region, access keys); absent ones come from
    the standard AWS environment variables.
    """
    if location.startswith("s3://"):
        from brisa.objectstore.s3 import S3ObjectStore

        store: ObjectStore = S3ObjectStore(location, dict(options or {}))
        return store
    if location.startswith("file://"):
        location = location.removeprefix("file://")
    if "://" in location:
        raise ConfigError(
            f"unsupported storage location {location!r}; use file:///path or s3://bucket/prefix"
        )
    from brisa.objectstore.local import LocalObjectStore

    return LocalObjectStore(Path(location))
