"""One frozen settings object: a TOML file plus `BRISA__SECTION__KEY` environment overrides.

Loaded once by the composition root and passed down; no other module reads the environment
for configuration. Unknown keys and bad values are reported by name. The keys that feed the
worker take their defaults from its wire format (worker.env, logs.config), the one place they
are written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from brisa import kubesettings
from brisa.errors import ConfigError
from brisa.kubesettings import KubernetesSettings
from brisa.logs.config import CHUNK_BYTES, CHUNK_INTERVAL
from brisa.logs.masking import DEFAULT_ENV_PATTERN
from brisa.opssettings import LoggingSettings, MetricsSettings, PoolsSettings, RetentionSettings
from brisa.repos.config import RepoSettings
from brisa.repos.config import check as check_repo
from brisa.settingfields import at_least, checked, duration, seconds_between, seconds_of, secret
from brisa.worker import env as wire

ENV_PREFIX = "BRISA__"
LOCAL_SOURCE = "dags"  # the name `[dags] folder` goes by among the repositories
REDACTED = "***"


def parse_duration(value: Any, name: str) -> float:
    """Seconds from a number or a string like '500ms', '30s', '5m', '1h', '7d'."""
    try:
        return seconds_of(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class CoreSettings:
    # The deployment's own secret, kept for what will sign things for people (e.g. web
    # sessions). Generated into $BRISA_HOME when empty. Execution tokens do not use it: they
    # are random per attempt (ADR 0008).
    secret_key: str = secret()
    # A task's return value, as JSON, may be at most this long (the worker checks it too).
    max_return_value_bytes: int = wire.MAX_RETURN_VALUE_BYTES


@dataclass(frozen=True)
class DatabaseSettings:
    # SQLAlchemy URL; empty means SQLite at $BRISA_HOME/brisa.db.
    url: str = field(default="", metadata={"secret_url": True})
    pool_size: int = 5


@dataclass(frozen=True)
class DagsSettings:
    # A plain folder of DAG files, owned by `team`. Empty: no folder.
    folder: str = ""
    team: str = "default"
    scan_interval: float = duration(1.0)
    parse_timeout: float = duration(30.0)


@dataclass(frozen=True)
class SchedulerSettings:
    # Fallback polling; the scheduler is woken at once by events.
    poll_interval: float = duration(1.0)
    # A running attempt without a heartbeat for this long is declared lost.
    heartbeat_timeout: float = duration(30.0)
    # A queued attempt whose worker never started is retried or failed after this long.
    queued_timeout: float = duration(120.0)
    max_runs_created_per_loop: int = 50
    # Most tasks one pass queues (one transaction; the rest wait for the next pass).
    queue_batch: int = checked(256, at_least(1))
    # Each scheduler's lease on the database's clock (ADR 0019): renewed every third of it;
    # a scheduler lost for this long has its attempts adopted by another.
    lease_ttl: float = checked(15.0, seconds_between(3, 600), duration=True)


@dataclass(frozen=True)
class ExecutorSettings:
    kind: str = "local"
    parallelism: int = checked(32, at_least(1))
    # Seconds between SIGTERM and SIGKILL when an attempt is stopped.
    kill_grace: float = duration(5.0)
    # How workers start: "forkserver" forks each from a process with Brisa already imported
    # (milliseconds); "spawn" starts a new interpreter per attempt (about 150 ms of CPU).
    start_method: str = "forkserver"
    # Run tasks as this OS user (local executor): each worker drops to its uid, gid and
    # groups before user code. Needs root or CAP_SETUID + CAP_SETGID; empty: Brisa's user.
    run_as_user: str = ""
    # Import each DAG file once per team, code (commit, or the DAG folder as it is) and file
    # in a warm process of the fork server, and fork that file's workers from it (ADR 0014,
    # ADR 0023): on by default; never with run_as_user or the spawn start method. At most
    # `warm_processes` stay, each for `warm_idle` seconds without an attempt.
    warm_imports: bool = True
    warm_processes: int = checked(8, at_least(1))
    warm_idle: float = duration(300.0)


@dataclass(frozen=True)
class WorkerSettings:
    heartbeat_interval: float = duration(wire.HEARTBEAT_INTERVAL)
    # How long a worker keeps retrying to report its result while the API is unreachable.
    report_timeout: float = duration(wire.REPORT_TIMEOUT)
    # Each git command a worker runs to fetch its run's commit (when neither a snapshot nor
    # its tarball is found) is stopped after this long.
    code_timeout: float = duration(wire.CODE_TIMEOUT)


@dataclass(frozen=True)
class ApiSettings:
    host: str = wire.API_HOST
    port: int = wire.API_PORT
    # The URL workers use to reach the execution API; derived from host/port when empty.
    public_url: str = ""
    # Host names (`name` or `name:port`, comma-separated; `*` for any) the REST API answers
    # to; empty means the bound host, localhost, 127.0.0.1 and [::1] with the port, and the
    # host of public_url. Refusing other names keeps web pages out (DNS rebinding).
    allowed_hosts: str = ""
    # Largest request body accepted; the execution API's finish call may carry a return
    # value of [core] max_return_value_bytes on top of it.
    max_body_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class LogsSettings:
    # Where attempt logs (and code snapshot tarballs) are kept: file:///path or
    # s3://bucket/prefix. Empty means the folder $BRISA_HOME/logs.
    location: str = ""
    # A running worker ships what its task wrote at least this often ...
    chunk_interval: float = duration(CHUNK_INTERVAL)
    # ... or as soon as this many bytes are waiting.
    chunk_bytes: int = CHUNK_BYTES
    # Logs older than this are deleted (hourly, by the scheduler); 0 keeps them forever.
    retention: float = duration(0.0)
    # Values of worker environment variables whose names match this regular expression are
    # replaced by *** in logs (besides params marked secret).
    mask_env_pattern: str = DEFAULT_ENV_PATTERN
    # S3-compatible stores; empty values come from the standard AWS_* environment variables.
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = secret()
    s3_allow_http: bool = False


@dataclass(frozen=True)
class UiSettings:
    # How pages refresh: "sse" (one event stream per tab) or "poll" (fragments poll).
    live: str = "sse"
    # Event streams one user may hold open at once; more tabs poll instead.
    max_streams_per_user: int = checked(8, at_least(0))
    # UI and REST requests served at once; the execution API keeps its own capacity.
    request_slots: int = checked(16, at_least(1))
    # A database statement of a UI or REST read running longer than this fails.
    statement_timeout: float = duration(10.0)
    # Memory (MB, roughly) for finished runs' grid cells kept by each API process; 0: none.
    grid_cache_mb: int = checked(32, at_least(0))


SECTIONS: dict[str, type] = {
    "core": CoreSettings,
    "database": DatabaseSettings,
    "dags": DagsSettings,
    "scheduler": SchedulerSettings,
    "executor": ExecutorSettings,
    "worker": WorkerSettings,
    "api": ApiSettings,
    "logs": LogsSettings,
    "kubernetes": KubernetesSettings,
    "ui": UiSettings,
    "metrics": MetricsSettings,
    "logging": LoggingSettings,
    "pools": PoolsSettings,
    "retention": RetentionSettings,
}


@dataclass(frozen=True)
class Settings:
    home: Path
    core: CoreSettings = field(default_factory=CoreSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    dags: DagsSettings = field(default_factory=DagsSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    logs: LogsSettings = field(default_factory=LogsSettings)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    pools: PoolsSettings = field(default_factory=PoolsSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # `[repos.NAME]` tables, in name order.
    repos: tuple[RepoSettings, ...] = ()
    # Where each key that is not a default came from ("section.key" -> the file's path or
    # "environment variable BRISA__..."): what `/config` shows as a key's source.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def sources(self) -> tuple[RepoSettings, ...]:
        """Every DAG source: the repositories plus `[dags] folder` (as the path repo 'dags')."""
        if not self.dags.folder:
            return self.repos
        folder = RepoSettings(name=LOCAL_SOURCE, path=self.dags.folder, team=self.dags.team)
        return (folder, *self.repos)

    def source(self, name: str) -> RepoSettings | None:
        return next((r for r in self.sources() if r.name == name), None)

    @property
    def repos_root(self) -> Path:
        """Bare caches and published snapshots, one folder per repository."""
        return self.home / "repos"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.home / 'brisa.db'}"

    @property
    def logs_location(self) -> str:
        return self.logs.location or f"file://{self.home / 'logs'}"

    @property
    def spool_folder(self) -> Path:
        """Local folder for what a worker prints before its log shipping starts."""
        return self.home / "spool"

    def object_store_options(self) -> dict[str, str]:
        """S3 options that are set (the rest come from the AWS_* environment)."""
        logs = self.logs
        options = {
            "endpoint_url": logs.s3_endpoint_url,
            "region": logs.s3_region,
            "access_key_id": logs.s3_access_key_id,
            "secret_access_key": logs.s3_secret_access_key,
            "allow_http": "true" if logs.s3_allow_http else "",
        }
        return {k: v for k, v in options.items() if v}

    @property
    def api_url(self) -> str:
        host = "127.0.0.1" if self.api.host in ("0.0.0.0", "::") else self.api.host
        return (self.api.public_url or f"http://{host}:{self.api.port}").rstrip("/")

    def replace(self, section: str, *, origin: str = "", **values: Any) -> Settings:
        """A copy with some keys of one section changed (e.g. from CLI flags); `origin` says
        where they came from (shown by `/config`)."""
        origins = dict(self.origins)
        if origin:
            origins.update({f"{section}.{key}": origin for key in values})
        return dataclasses.replace(
            self,
            origins=origins,
            **{section: dataclasses.replace(getattr(self, section), **values)},
        )

    def redacted(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets replaced by '***'."""
        out: dict[str, Any] = {"home": str(self.home)}
        for name in SECTIONS:
            out[name] = _plain(getattr(self, name))
        out["repos"] = {repo.name: _plain(repo) for repo in self.repos}
        return out


def _plain(section: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if f.metadata.get("secret") and value:
            value = REDACTED
        elif f.metadata.get("secret_url"):
            value = redact_url(value)
        values[f.name] = value
    return values


def redact_url(url: str) -> str:
    """Hide the password of a URL like scheme://user:password@host/db."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", rf"\g<1>{REDACTED}@", url)


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _coerce_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    return None


def _coerce_number(kind: type, value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if kind is int:
        if isinstance(value, int):
            return value
        return (
            int(value) if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()) else None
        )
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _coerce(kind: Any, f: dataclasses.Field[Any], value: Any, name: str) -> Any:
    result: Any
    if f.metadata.get("duration"):
        result = parse_duration(value, name)
    elif f.metadata.get("mapping"):
        result = _coerce_table(value, name)
    else:
        result = _coerce_plain(kind, value)
    if result is None:
        type_name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{name}: expected {type_name}, got {value!r}")
    check = f.metadata.get("check") or kubesettings.TABLE_CHECKS.get(f.name)
    try:
        return check(result) if check else result
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _coerce_table(value: Any, name: str) -> dict[str, str]:
    """A TOML table of strings, or `a=b,c=d` (an environment variable)."""
    if isinstance(value, str):
        pairs = [p.partition("=") for p in value.split(",") if p.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(f"{name}: write a table, or key=value pairs separated by commas")
        value = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{name}: expected a table of strings, got {value!r}")
    return value


def _coerce_plain(kind: Any, value: Any) -> Any:
    result: Any = None
    if kind is bool:
        result = _coerce_bool(value)
    elif kind in (int, float):
        result = _coerce_number(kind, value)
    elif kind is str and isinstance(value, str):
        result = value
    return result


def _section_kind(cls: type, key: str) -> Any:
    kind = get_type_hints(cls)[key]
    if get_origin(kind) in (Union, types.UnionType):
        kind = next(a for a in get_args(kind) if a is not type(None))
    return kind


Sourced = dict[str, tuple[Any, str]]  # key -> (value, where it came from)


REPOS = "repos"  # `[repos.NAME]`: one table per repository, kept as section "repos.NAME"


def _section_class(name: str) -> type:
    return RepoSettings if name.startswith(f"{REPOS}.") else SECTIONS[name]


def _build_section(name: str, values: Sourced) -> Any:
    cls = _section_class(name)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "name"}
    parsed: dict[str, Any] = {}
    for key, (value, source) in values.items():
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"{source}: unknown key [{name}] {key}; known keys: {known}")
        parsed[key] = _coerce(
            _section_kind(cls, key), fields[key], value, f"{source} [{name}] {key}"
        )
    if cls is RepoSettings:
        return check_repo(RepoSettings(name=name.split(".", 1)[1], **parsed))
    return cls(**parsed)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Sourced]:
    overrides: dict[str, Sourced] = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) == 3 and parts[0] == REPOS:
            parts = [f"{REPOS}.{parts[1]}", parts[2]]
        elif len(parts) != 2 or parts[0] not in SECTIONS:
            raise ConfigError(
                f"environment variable {var} does not name a setting; use "
                f"BRISA__SECTION__KEY with a section among {', '.join(SECTIONS)}, or "
                "BRISA__REPOS__NAME__KEY"
            )
        overrides.setdefault(parts[0], {})[parts[1]] = (value, f"environment variable {var}")
    return overrides


def _file_sections(path: Path, required: bool) -> dict[str, Sourced]:
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    sections: dict[str, Sourced] = {}
    for name, values in data.items():
        if name == REPOS and isinstance(values, dict):
            for repo, table in values.items():
                if not isinstance(table, dict):
                    raise ConfigError(f"{path}: [repos] {repo} must be a table [repos.{repo}]")
                sections[f"{REPOS}.{repo}"] = {k: (v, str(path)) for k, v in table.items()}
            continue
        if name not in SECTIONS or not isinstance(values, dict):
            known = ", ".join([*SECTIONS, "repos.NAME"])
            raise ConfigError(f"{path}: unknown section [{name}]; known: {known}")
        sections[name] = {key: (value, str(path)) for key, value in values.items()}
    return sections


def _check(settings: Settings) -> Settings:
    if settings.executor.kind not in ("local", "kubernetes"):
        raise ConfigError(
            f"[executor] kind: {settings.executor.kind!r} is not available; "
            "use 'local' or 'kubernetes'"
        )
    kubesettings.check(settings.kubernetes, settings.executor.kind)
    if settings.executor.start_method not in ("forkserver", "spawn"):
        raise ConfigError(
            f"[executor] start_method: {settings.executor.start_method!r}; "
            "use 'forkserver' or 'spawn'"
        )
    if settings.ui.live not in ("sse", "poll"):
        raise ConfigError(f"[ui] live: {settings.ui.live!r}; use 'sse' or 'poll'")
    if settings.dags.folder and any(r.name == LOCAL_SOURCE for r in settings.repos):
        raise ConfigError(
            f"[repos.{LOCAL_SOURCE}] clashes with [dags] folder (which goes by that name); "
            "rename the repository"
        )
    return settings


def load(
    home: Path | str | None = None,
    config_file: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the config file (if any) and the environment into one frozen Settings."""
    environ = os.environ if environ is None else environ
    home = Path(home or environ.get("BRISA_HOME") or ".brisa").absolute()
    path = Path(config_file) if config_file else home / "brisa.toml"
    sections = _file_sections(path, required=config_file is not None)
    for name, values in _env_overrides(environ).items():
        sections.setdefault(name, {}).update(values)
    built = {name: _build_section(name, values) for name, values in sections.items()}
    repos = tuple(built.pop(name) for name in sorted(built) if name.startswith(f"{REPOS}."))
    origins = {
        f"{name}.{key}": _origin(src)
        for name, values in sections.items()
        for key, (_, src) in values.items()
    }
    return _check(Settings(home=home, repos=repos, origins=origins, **built))


def _origin(source: str) -> str:
    """`env BRISA__…` or `file <path>`: where a key was set, as `/config` shows it."""
    return "env " + source.split()[-1] if ENV_PREFIX in source else f"file {source}"


def ensure_secret_key(settings: Settings) -> Settings:
    """Use the configured secret key, else one kept in $BRISA_HOME/secret_key (made once)."""
    if settings.core.secret_key:
        return settings
    key_file = settings.home / "secret_key"
    if not key_file.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    key = key_file.read_text().strip()
    return settings.replace("core", origin=f"generated in {key_file}", secret_key=key)
