"""`[metrics]` and `[logging]`: how a process is observed — its server of `/metrics` and
`/health/*`, and the format of its own log lines; `[pools]`: the default pool's size;
`[retention]`: how long the audit record and the commit parses are kept. Every key is
checked when the settings load, so a mistake names the key and where it was set."""

from __future__ import annotations

from dataclasses import dataclass

from brisa.core.pools import DEFAULT_SLOTS, check_default_slots
from brisa.settingfields import at_least, checked, duration, seconds_between

LOG_FORMATS = ("text", "json")


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port; use 1-65535, or 0 for no server")
    return value


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"{value!r} is not a log format; use 'text' or 'json'")
    return value


@dataclass(frozen=True)
class MetricsSettings:
    # The interface the scheduler's and the DAG processor's own server listens on (the API
    # serves /metrics and /health/* on its own port).
    host: str = "127.0.0.1"
    # Port of `brisa scheduler`'s server of /metrics and /health/*; 0: no server.
    scheduler_port: int = checked(0, _port)
    # Port of `brisa dag-processor`'s server; 0: no server.
    dag_processor_port: int = checked(0, _port)
    # A loop (a scheduler pass, a DAG source's pass) that has not come round for this long
    # fails /health/live.
    stall_timeout: float = duration(300.0)


@dataclass(frozen=True)
class LoggingSettings:
    # "text": one human-readable line per record; "json": one JSON object per line.
    format: str = checked("text", _log_format)


@dataclass(frozen=True)
class PoolsSettings:
    # Slots of each team's default pool (tasks without pool= take theirs from it) until
    # `brisa pools set TEAM default_pool --slots N` sizes it by hand.
    default_slots: int = checked(DEFAULT_SLOTS, check_default_slots)


@dataclass(frozen=True)
class RetentionSettings:
    # Audit record entries older than this many days are deleted; 0 keeps them forever.
    audit_days: int = checked(0, at_least(0))
    # Parsed commits kept per repository, newest first (the current commit and its DAGs'
    # are always kept); 0 keeps them all.
    commit_parses_per_repo: int = checked(1000, at_least(0))
    # How often the scheduler's housekeeping deletes what is past these limits.
    interval: float = checked(3600.0, seconds_between(60, 7 * 86400), duration=True)
