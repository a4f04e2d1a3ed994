"""How a setting is declared: the field markers the settings loader reads (secret values are
redacted when shown; durations accept '30s', '5m', ...)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds_of(value: Any) -> float:
    """Seconds from a number or a string like '500ms', '30s', '5m', '1h', '7d' (ValueError)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a duration; use seconds or '30s', '5m', '1h'")
    return float(match.group(1)) * _UNITS[match.group(2)]


def secret() -> Any:
    """A string setting shown as *** (`brisa config show`, the worker's printed config)."""
    return field(default="", metadata={"secret": True})


def duration(default: float) -> Any:
    """Seconds, given as a number or as a string like '500ms', '30s', '5m', '1h', '7d'."""
    return field(default=default, metadata={"duration": True})


def mapping() -> Any:
    """A table of strings: `{ a = "b" }` in the file, `a=b,c=d` in an environment variable."""
    return field(default_factory=dict, metadata={"mapping": True})


def checked(default: Any, check: Any, **metadata: Any) -> Any:
    """A setting whose value `check(value)` checks (ValueError: what is wrong) and may
    normalise, at load, so that the error names the key and where it was set."""
    return field(default=default, metadata={"check": check, **metadata})


def seconds_between(low: float, high: float) -> Callable[[float], float]:
    """A check of a duration setting: from `low` to `high` seconds."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"{value:g}s is out of range; use {low:g}s to {high:g}s")
        return value

    return check


def at_least(low: int) -> Callable[[int], int]:
    """A check of an integer setting: `low` or more."""

    def check(value: int) -> int:
        if value < low:
            raise ValueError(f"{value} is too small; it must be at least {low}")
        return value

    return check
