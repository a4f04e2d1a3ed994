"""The object store on any S3-compatible service, through obstore.

Only this module imports obstore, so a worker whose logs go to a local folder never loads it.
Client timeouts and retries are short on purpose: a worker shipping log chunks must notice an
outage within seconds (and keep the chunks for later), not hang for the library's 3 minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import S3Store

from brisa.errors import ConfigError, InvalidInput, NotFound
from brisa.objectstore.base import ObjectInfo, StoreUnavailable

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

# Brisa option -> obstore S3Config key. Empty values are ignored, so the standard AWS_*
# environment variables (read by S3Store itself) fill whatever the settings leave out.
_S3_CONFIG_KEYS = {
    "endpoint_url": "endpoint",
    "region": "region",
    "access_key_id": "access_key_id",
    "secret_access_key": "secret_access_key",
    "session_token": "session_token",
}
_SECRET_OPTIONS = ("access_key_id", "secret_access_key", "session_token")
_ENV_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_TOKEN")
# Client timeouts, overridable through the same options (obstore duration strings, "3s").
_TIMEOUTS = (
    ("connect_timeout", "3s"),
    ("read_timeout", "15s"),  # a stalled connection is dropped after this long without data
    ("timeout", "5min"),  # the whole request: a 100 MB full.log upload must fit in it
)
# A failed request is retried twice, within 10 s at most, then reported as an outage.
_RETRY: RetryConfig = {
    "max_retries": 2,
    "retry_timeout": timedelta(seconds=10),
    "backoff": {
        "init_backoff": timedelta(milliseconds=100),
        "max_backoff": timedelta(seconds=2),
        "base": 2,
    },
}
_TRUE = ("1", "true", "yes", "on")


class S3ObjectStore:
    def __init__(self, location: str, options: Mapping[str, str]) -> None:
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"no bucket in storage location {location!r}; use s3://bucket/prefix")
        self.location = location
        self._prefix = prefix.strip("/")
        secrets = [options.get(k) for k in _SECRET_OPTIONS] + [
            os.environ.get(k) for k in _ENV_SECRETS
        ]
        self._secrets = [s for s in secrets if s and len(s) >= 4]
        self._store = S3Store(
            bucket,
            prefix=self._prefix or None,
            config=_s3_config(options),
            client_options=_client_options(options),
            retry_config=_RETRY,
        )

    def put(self, key: str, data: bytes) -> None:
        _check_key(key)
        try:
            with self._errors(key):
                obstore.put(self._store, key, data)
        except NotFound:  # S3 answers 404 to a write only when the bucket is missing
            raise StoreUnavailable(
                f"cannot write to {self.location}: the bucket does not exist; create it or fix "
                "[logs] location"
            ) from None

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        _check_key(key)
        with self._errors(key):
            if end is not None and end <= start:
                obstore.head(self._store, key)  # still NotFound when missing, like a file
                return b""
            try:
                if start == 0 and end is None:
                    return bytes(obstore.get(self._store, key).bytes())
                if end is None:
                    got = obstore.get(self._store, key, options={"range": {"offset": start}})
                    return bytes(got.bytes())
                return bytes(obstore.get_range(self._store, key, start=start, end=end))
            except ObstoreError as exc:
                if "416 Range Not Satisfiable" in str(exc):  # start at or past the end
                    return b""
                raise

    def list(self, prefix: str) -> list[ObjectInfo]:
        # obstore lists whole path segments; keys are matched by plain string prefix here.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else None
        found: list[ObjectInfo] = []
        with self._errors(prefix):
            for batch in obstore.list(self._store, folder, chunk_size=1000):
                found += (
                    ObjectInfo(meta["path"], meta["size"], meta["last_modified"])
                    for meta in batch
                    if meta["path"].startswith(prefix)
                )
        return sorted(found, key=lambda o: o.key)

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for key in keys:
            _check_key(key)
        if keys:
            with self._errors(keys[0]):
                obstore.delete(self._store, keys)  # S3 deletes of missing keys succeed

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in {self.location}") from None
        except (ObstoreError, OSError) as exc:
            self._unavailable(exc)

    def _unavailable(self, exc: BaseException) -> NoReturn:
        # obstore's message names the URL and the cause; keep its first line, never a secret.
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        for secret in self._secrets:
            reason = reason.replace(secret, "***")
        raise StoreUnavailable(
            f"object store {self.location} is unavailable ({reason}); retry later"
        ) from None


def _check_key(key: str) -> None:
    """The same keys as the local folder store accepts, so both behave alike."""
    if not key or any(p in ("", ".", "..") for p in key.split("/")):
        raise InvalidInput(f"invalid object key {key!r}")


def _s3_config(options: Mapping[str, str]) -> S3Config:
    config = {key: options[name] for name, key in _S3_CONFIG_KEYS.items() if options.get(name)}
    return config  # type: ignore[return-value]


def _client_options(options: Mapping[str, str]) -> ClientConfig:
    timeouts = {name: options.get(name) or default for name, default in _TIMEOUTS}
    config: ClientConfig = {
        "connect_timeout": timeouts["connect_timeout"],
        "read_timeout": timeouts["read_timeout"],
        "timeout": timeouts["timeout"],
    }
    # S3Store ignores the AWS_* client settings from the environment once client options are
    # given, so the one that matters for S3-compatible servers is read here.
    allow_http = options.get("allow_http") or os.environ.get("AWS_ALLOW_HTTP", "")
    config["allow_http"] = allow_http.lower() in _TRUE
    return config
