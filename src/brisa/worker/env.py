"""The wire format between executors and the worker: everything an executor hands
`brisa task run`, as environment variables, with the one set of defaults.

An executor builds a `WorkerEnv` from the settings (the composition root does) and starts
each worker with `to_env()`: the local executor as a process's environment, the Kubernetes
executor as a pod's `env`. The worker reads it back with `WorkerEnv.from_env(os.environ)`. A
variable that is absent takes the field's default, so `from_env({}) == WorkerEnv()`; the
settings of the keys that feed the worker take their defaults from the constants here too.

Workers get no `BRISA__SECTION__KEY` settings nor `BRISA_HOME`: only these variables (and the
rest of the executor's environment). The log store's keys (`private`) are for the worker
process only; it removes them from its environment before user code runs.

The attempt's execution token is not an environment variable: `/proc/PID/environ` keeps a
process's initial environment whatever it removes later, and any process of the same user
can read it. The executor hands it through a socket the worker inherits (`token_channel`; its
descriptor number is in `TOKEN_FD`), which the worker reads to its end and closes at once
(`receive_token`); unlike a pipe, a socket cannot be opened again through `/proc/PID/fd`.
A worker in a Kubernetes pod has no token handed to it: it presents its pod's projected
service account token (the file named by `POD_TOKEN_FILE`) to the execution API, which
answers with the attempt's token once it has checked the pod is the attempt's (ADR 0029).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brisa.logs.config import ShippingConfig

API_HOST = "127.0.0.1"  # where the API listens by default ...
API_PORT = 8080
API_URL = f"http://{API_HOST}:{API_PORT}"  # ... so where a worker finds it by default
HEARTBEAT_INTERVAL = 5.0
REPORT_TIMEOUT = 600.0
CODE_TIMEOUT = 120.0
MAX_RETURN_VALUE_BYTES = 1024 * 1024  # the largest return value the API records, as JSON

TOKEN_FD = "BRISA_EXECUTION_TOKEN_FD"  # the descriptor the worker reads its token from
# In a pod: the pod's projected service account token, exchanged for the execution token
# (`client.exchange_pod_token`, ADR 0029).
POD_TOKEN_FILE = "BRISA_POD_TOKEN_FILE"
LOG_SERVER_FD = "BRISA_LOG_SERVER_FD"  # the worker's connection to the log server (ADR 0025)
S3_PREFIX = "BRISA_LOGS_S3_"  # + an object store option in capitals, e.g. ..._ENDPOINT_URL


@dataclass(frozen=True)
class WorkerEnv:
    """What the executor hands the worker explicitly, printed (redacted) at its start."""

    api_url: str = API_URL
    # This attempt's token for the execution API: handed by the executor for each launch
    # through `token_channel`, never through the environment (`to_env` leaves it out).
    token: str = ""
    dags_folder: str = ""
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    # How long the worker keeps retrying to report its result while the API is unreachable.
    report_timeout: float = REPORT_TIMEOUT
    logs: ShippingConfig = field(default_factory=ShippingConfig)
    # Pinned code: where the syncer keeps snapshots on this machine (may be absent), where
    # this worker may download commits it does not find there, and each git call's limit.
    repos_root: str = ""
    code_cache: str = ""
    code_timeout: float = CODE_TIMEOUT
    # The local executor's pid-file registry, where the worker records itself ("": none).
    registry: str = ""
    # The OS user the task runs as ("": the worker's own): `[executor] run_as_user`.
    run_as_user: str = ""
    # A return value longer than this (as JSON) fails the attempt before it is sent.
    max_return_value_bytes: int = MAX_RETURN_VALUE_BYTES

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry this configuration to a worker, but for the
        token (see `token_channel`)."""
        env = {var: str(getattr(self, name)) for name, var in _VARIABLES.items()}
        env.update({var: str(getattr(self.logs, name)) for name, var in _LOG_VARIABLES.items()})
        for option, value in self.logs.store_options.items():
            if value:
                env[S3_PREFIX + option.upper()] = value
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkerEnv:
        """The configuration an executor handed this worker; defaults for what is absent."""
        values = _parse(environ, _VARIABLES, _DEFAULTS)
        logs = _parse(environ, _LOG_VARIABLES, ShippingConfig._field_defaults)
        logs["store_options"] = {
            var.removeprefix(S3_PREFIX).lower(): value
            for var, value in environ.items()
            if var.startswith(S3_PREFIX) and value
        }
        config = cls(**values, logs=ShippingConfig(**logs))
        return dataclasses.replace(config, api_url=config.api_url.rstrip("/"))

    def with_token(self, token: str) -> WorkerEnv:
        """This configuration with the attempt's `token`: `dataclasses.replace` without its
        walk over every field (each field's object is a page a forked worker copies; ADR
        0042). No field is computed from another, so copying the values is the same."""
        config = object.__new__(type(self))
        config.__dict__.update(self.__dict__, token=token)
        return config

    def redacted(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "token": "***" if self.token else "",
            "logs": self.logs.redacted(),
        }


# A warm process builds its workers' `WorkerEnv` once, before it forks them (`prebuild`):
# the variables it read, and what it built from them.
_built: tuple[dict[str, str], WorkerEnv] | None = None


def configuring(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables `WorkerEnv.from_env` reads from `environ`."""
    return {
        name: value
        for name, value in environ.items()
        if name in _READ or name.startswith(S3_PREFIX)
    }


def prebuild(environ: Mapping[str, str]) -> WorkerEnv:
    """`WorkerEnv.from_env(environ)`, kept for `worker_env` in this process and its forks."""
    global _built
    config = WorkerEnv.from_env(environ)
    _built = (configuring(environ), config)
    return config


def worker_env(environ: Mapping[str, str]) -> WorkerEnv:
    """`WorkerEnv.from_env(environ)`: the one `prebuild` made when its variables are the
    same (every attempt of one executor's warm process), else built now."""
    if _built is not None and configuring(environ) == _built[0]:
        return _built[1]
    return WorkerEnv.from_env(environ)


# `os.environ` as a plain dict, in a process that forks workers (`know_environment`).
_known: dict[str, str] | None = None


def know_environment() -> None:
    """Remember `os.environ` as it is now, for `take_environment` in this process's forks:
    called by a process that forks workers (the fork server, a warm process) once its own
    environment is set."""
    global _known
    _known = dict(os.environ)


def take_environment(env: Mapping[str, str]) -> None:
    """In a forked worker: `os.environ` becomes `env`. Only what differs is changed (each
    change is a `putenv` or an `unsetenv`): the executor's environment, which the forking
    process holds, is most of every request's. Compared with what `know_environment` kept,
    a plain dict: reading `os.environ` itself runs its Python mapping code (a decode per
    name and value), and in a fork every object that code touches is a page copied."""
    now = _known if _known is not None else dict(os.environ)
    for name in now.keys() - env.keys():
        del os.environ[name]
    for name, value in env.items():
        if now.get(name) != value:
            os.environ[name] = value


def private(variable: str) -> bool:
    """A variable for the worker process only, never for the task it runs."""
    return variable in (TOKEN_FD, POD_TOKEN_FILE, LOG_SERVER_FD) or variable.startswith(S3_PREFIX)


def token_channel(token: str) -> int:
    """A descriptor (not inheritable: pass it on explicitly) from which the token can be read
    to its end, once: a socket, which `/proc/PID/fd` cannot open. The caller closes it once
    the worker has its copy."""
    ours, theirs = socket.socketpair()
    with ours:
        ours.sendall(token.encode())  # a few dozen bytes: the socket's buffer holds them
    return theirs.detach()


def log_server(environ: Mapping[str, str]) -> socket.socket | None:
    """The connection to the fork server's log server handed through `LOG_SERVER_FD` (not
    inherited by the task's children), if any."""
    value = environ.get(LOG_SERVER_FD, "")
    if not value.isdigit():
        return None
    os.set_inheritable(int(value), False)
    return socket.socket(fileno=int(value))


def receive_token(environ: Mapping[str, str]) -> str:
    """The token handed through `TOKEN_FD`, read to its end, its descriptor closed (so the
    task's children do not inherit it); "" when none was handed (in a pod, or started by
    hand)."""
    if not environ.get(TOKEN_FD, "").isdigit():
        return ""
    fd, chunks = int(environ[TOKEN_FD]), []
    try:
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


# Field -> environment variable. Every field but `token` and `logs`, and every field of the
# log's configuration but `store_options` (one variable per option, under S3_PREFIX).
_VARIABLES = {
    "api_url": "BRISA_API_URL",
    "dags_folder": "BRISA_DAGS_FOLDER",
    "heartbeat_interval": "BRISA_HEARTBEAT_INTERVAL",
    "report_timeout": "BRISA_REPORT_TIMEOUT",
    "repos_root": "BRISA_REPOS_ROOT",
    "code_cache": "BRISA_CODE_CACHE",
    "code_timeout": "BRISA_CODE_TIMEOUT",
    "registry": "BRISA_WORKER_REGISTRY",
    "run_as_user": "BRISA_RUN_AS_USER",
    "max_return_value_bytes": "BRISA_MAX_RETURN_VALUE_BYTES",
}
_LOG_VARIABLES = {
    "location": "BRISA_LOGS_LOCATION",
    "chunk_interval": "BRISA_LOGS_CHUNK_INTERVAL",
    "chunk_bytes": "BRISA_LOGS_CHUNK_BYTES",
    "mask_env_pattern": "BRISA_LOGS_MASK_ENV_PATTERN",
    "echo": "BRISA_LOGS_ECHO",
}
_READ = frozenset([*_VARIABLES.values(), *_LOG_VARIABLES.values()])
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(WorkerEnv) if f.name in _VARIABLES}


def _parse(
    environ: Mapping[str, str], variables: Mapping[str, str], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The values of the variables that are set, as the type of each field's default."""
    return {
        name: _value(defaults[name], environ[var])
        for name, var in variables.items()
        if var in environ
    }


def _value(default: Any, text: str) -> Any:
    """`text` as the type of `default` (a flag is written by `to_env` as True or False)."""
    return text == "True" if isinstance(default, bool) else type(default)(text)
