"""How a setting is declared: the field markers the settings loader reads (secret values are
redacted when shown; durations accept '30s', '5m', ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any


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
