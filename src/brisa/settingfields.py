"""How a setting is declared: the field markers the settings loader reads (secret values are
redacted when shown; durations accept '30s', '5m', ...)."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def secret() -> Any:
    """A string setting shown as *** (`brisa config show`, the worker's printed config)."""
    return field(default="", metadata={"secret": True})


def duration(default: float) -> Any:
    """Seconds, given as a number or as a string like '500ms', '30s', '5m', '1h', '7d'."""
    return field(default=default, metadata={"duration": True})
