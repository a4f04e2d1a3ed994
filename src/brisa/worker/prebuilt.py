"""What a warm process builds once for the workers it forks (ADR 0033): the configuration
(`worker.env.prebuild`), its dump at the top of every attempt log, the secrets of the
environment, and the API's address. A worker takes them when its configuration is the one
built here (`prebuilt_for`): every attempt of one executor's warm process.

A forked worker copies a page of memory for each inherited object it touches, and pays for
every Python step it runs: what is the same for every attempt is done here, before the fork.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from brisa.logs.masking import env_secrets
from brisa.worker.client import address
from brisa.worker.env import LOG_SERVER_FD, TOKEN_FD, WorkerEnv
from brisa.worker.env import prebuild as prebuild_env

# Each setting of the config dump at the top of an attempt log is one line starting with this
# marker (after the time stamp and `brisa: `), right under one header line: a reader can fold
# the block (docs/operations.md).
CONFIG_MARKER = "config | "
# `json.dumps(value, default=str)` builds an encoder per call: one for every line instead.
_CONFIG_JSON = json.JSONEncoder(default=str)


def config_lines(redacted: dict[str, Any]) -> list[str]:
    """The config dump: a header line, then one `config | key = <JSON value>` line per
    setting, nested settings with dotted keys (`logs.location`)."""
    flat = dict(_flatten(redacted))
    body = [f"{CONFIG_MARKER}{key} = {_CONFIG_JSON.encode(value)}" for key, value in flat.items()]
    return [f"config ({len(flat)} settings, secrets redacted):", *body]


def _flatten(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@dataclass(frozen=True)
class Prebuilt:
    """What `prebuild` made for the workers of this process."""

    config: WorkerEnv
    dump: list[str]  # the config dump (its token shown as set)
    dump_text: str  # ... as the worker writes it to a captured log (`brisa: ` first)
    environ: dict[str, str]  # the environment it was built from
    env_secrets: list[str]  # the secrets of that environment (`logs.masking.env_secrets`)


_current: Prebuilt | None = None  # set in a warm process, inherited by its workers


def prebuild(environ: dict[str, str]) -> None:
    """In a warm process, before it forks workers: what each of them would build the same
    from `environ`, built once."""
    global _current
    config = prebuild_env(environ)
    dump = config_lines(replace(config, token="*").redacted())
    found = env_secrets(environ, config.logs.mask_env_pattern)
    text = "\n".join(f"brisa: {line}" for line in dump)
    _current = Prebuilt(config, dump, text, dict(environ), found)
    with contextlib.suppress(ValueError):  # a bad URL: each attempt says so
        address(config.api_url)


def prebuilt_for(config: WorkerEnv) -> Prebuilt | None:
    """What was built for `config` (the very object `worker.env.worker_env` returned), if
    it was."""
    return _current if _current is not None and _current.config is config else None


def worker_secrets(
    config: WorkerEnv, environ: dict[str, str], prebuilt: Prebuilt | None = None
) -> list[str]:
    """The secrets of every attempt of this worker: its environment's, the object store's
    keys, the token. The environment's are `prebuilt`'s when `environ` is its environment
    with at most this worker's own descriptors added (a dict comparison instead of a match
    per variable)."""
    pattern = config.logs.mask_env_pattern
    found = None
    if prebuilt is not None:
        own = {name: environ[name] for name in (TOKEN_FD, LOG_SERVER_FD) if name in environ}
        if len(environ) == len(prebuilt.environ) + len(own) and (
            prebuilt.environ.items() <= environ.items()
        ):
            found = [*prebuilt.env_secrets, *env_secrets(own, pattern)]
    if found is None:
        found = env_secrets(environ, pattern)
    return [*found, *config.logs.secrets(), config.token]
