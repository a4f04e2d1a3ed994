"""One trigger-form field per DAG param (UI.md A.4.1): which widget shows a param, how a conf
value is written into that widget, and how what the user typed is read back into a conf value.
Pure. The values are then checked by `authoring.params`, the same code the REST API uses.

Date-times are typed in the user's display zone and stored in UTC (`2026-03-01T00:00:00Z`).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from brisa.core.paramspec import ParamSpec

_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")
SCALARS = ("string", "integer", "number", "boolean")


class Missing:
    """What a field holds when the user left it empty: the param's default applies, or it is
    reported as required."""


MISSING = Missing()


def widget(spec: ParamSpec) -> str:
    """text, textarea, select, switch, number, date, time, datetime, lines, json or hidden."""
    if spec.const:
        return "hidden"
    if spec.enum is not None:
        return "select"
    if spec.type == "boolean":
        return "switch"
    if spec.type in ("integer", "number"):
        return "number"
    if spec.type == "array" and spec.items in SCALARS:
        return "lines"
    if spec.type == "string":
        formats = {"multiline": "textarea", "date": "date", "time": "time"}
        return "datetime" if spec.format == "date-time" else formats.get(spec.format or "", "text")
    return "json"


def shown(spec: ParamSpec, value: Any, zone: ZoneInfo) -> str:
    """A conf value as its widget's text (what goes in `value=`)."""
    kind = widget(spec)
    if kind == "switch":
        return "on" if value is True else ""
    if kind in ("select", "hidden", "json"):
        return json.dumps(value, indent=2 if kind == "json" and value else None)
    if kind == "lines" and isinstance(value, list):
        return "\n".join(_scalar_text(item) for item in value)
    if kind == "datetime" and isinstance(value, str):
        return _local(value, zone)
    if kind == "number" and _is_number(value):
        return _scalar_text(value)
    return value if isinstance(value, str) else json.dumps(value)


def parse(spec: ParamSpec, raw: str | None, zone: ZoneInfo) -> Any:
    """What the user typed as a conf value; MISSING when left empty; ValueError (with a
    message for the user) when it cannot be read at all."""
    kind = widget(spec)
    if kind == "switch":
        return raw is not None and raw != ""
    text = raw or ""
    if not text.strip() and (kind != "text" or spec.required or spec.secret):
        # An empty text box is the empty string, unless the param must be given; secret
        # params are never pre-filled, so empty means "keep the default".
        return MISSING
    if kind in ("select", "hidden", "json"):
        return _json(text)
    if kind == "number":
        return _number(text, spec.type == "integer")
    if kind == "lines":
        return [_item(line.strip(), spec.items) for line in text.splitlines() if line.strip()]
    if kind == "datetime":
        return _utc(text, zone)
    return text


def differs(spec: ParamSpec, value: Any) -> bool:
    """Whether a value is not the param's default (shown next to the field)."""
    return not spec.required and not spec.secret and value is not MISSING and value != spec.default


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return json.dumps(value)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _number(text: str, integer: bool) -> int | float:
    if _INTEGER.match(text):
        return int(text)
    if integer:
        raise ValueError(f"{text.strip()!r} is not a whole number")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError("the number must be finite")
    return value


def _item(text: str, kind: str | None) -> Any:
    if kind in ("integer", "number"):
        return _number(text, kind == "integer")
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{text!r} is not true or false (one value per line)")
        return text.lower() == "true"
    return text


def _local(value: str, zone: ZoneInfo) -> str:
    """`2026-03-01T00:00:00Z` as the `datetime-local` text in `zone`: `2026-03-01T09:00`."""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.tzinfo is None:
        return value
    local = instant.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")


def _utc(text: str, zone: ZoneInfo) -> str:
    """A `datetime-local` text read in `zone`, as UTC ISO 8601 with `Z`."""
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a date and time like 2026-03-01T09:00") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(UTC).isoformat().replace("+00:00", "Z")
