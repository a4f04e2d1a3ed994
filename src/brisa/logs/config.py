"""What a worker is told about its log: where the log store is, how often to cut chunks,
which environment variables hold secrets, and the store's options.

The executor hands it over as part of the worker's wire format (`brisa.worker.env`, which
names the `BRISA_LOGS_*` variables); the defaults here are the only ones, `[logs]` settings
included. A NamedTuple, not a dataclass: this module is on the worker's start-up path.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from brisa.logs.masking import DEFAULT_ENV_PATTERN

if TYPE_CHECKING:
    from brisa.objectstore import ObjectStore

CHUNK_INTERVAL = 5.0  # a running worker ships what its task wrote at least this often ...
CHUNK_BYTES = 1024 * 1024  # ... or as soon as this many bytes are waiting
_SECRET_S3_OPTIONS = ("secret_access_key", "session_token")


class ShippingConfig(NamedTuple):
    """Where and how the worker ships its log (the `BRISA_LOGS_*` part of its environment)."""

    location: str = ""
    chunk_interval: float = CHUNK_INTERVAL
    chunk_bytes: int = CHUNK_BYTES
    mask_env_pattern: str = DEFAULT_ENV_PATTERN
    store_options: Mapping[str, str] = MappingProxyType({})
    # The worker runs in a pod: its log is echoed to stdout too, in frames (`logs.echo`).
    echo: bool = False

    def secrets(self) -> list[str]:
        return [self.store_options[k] for k in _SECRET_S3_OPTIONS if self.store_options.get(k)]

    def open_store(self) -> ObjectStore:
        """The log store (obstore is imported here, for s3://, not at start-up)."""
        from brisa.objectstore import open_object_store

        return open_object_store(self.location, self.store_options)

    def redacted(self) -> dict[str, Any]:
        options = {
            k: "***" if k in _SECRET_S3_OPTIONS or k == "access_key_id" else v
            for k, v in self.store_options.items()
        }
        return {**self._asdict(), "store_options": options}
