"""Typed DAG parameters: declared with defaults, validated when a run is triggered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from brisa.core.paramspec import ParamSpec
from brisa.errors import InvalidInput

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}

FORMATS = ("multiline", "date", "time", "date-time")
_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Param:
    """A run parameter. `default` is used when a trigger does not set it.

    A param without a default is required (manual DAGs only). `secret=True` masks its value
    (as ***) in task logs. The rest shapes the trigger form and is checked like the type:
    `format` (multiline, date, time, date-time), `section` (groups fields), `examples`
    (suggestions, any value allowed), `multiple_of`, `items` (the JSON type of an array's
    elements), `const` (the default is the only value; hidden in the form).
    """

    default: Any = _NO_DEFAULT
    type: str | None = None
    description: str = ""
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    format: str | None = None
    section: str = ""
    examples: tuple[Any, ...] | None = None
    multiple_of: float | None = None
    items: str | None = None
    const: bool = False

    def __post_init__(self) -> None:
        known = ", ".join(JSON_TYPES)
        if self.type is not None and self.type not in JSON_TYPES:
            raise InvalidInput(f"unknown param type {self.type!r}; use one of {known}")
        if self.items is not None and self.items not in JSON_TYPES:
            raise InvalidInput(f"unknown items type {self.items!r}; use one of {known}")
        if self.format is not None and self.format not in FORMATS:
            raise InvalidInput(f"unknown param format {self.format!r}; use one of {FORMATS}")
        if self.multiple_of is not None and not self.multiple_of > 0:
            raise InvalidInput(f"multiple_of must be a positive number, got {self.multiple_of}")
        if self.const and self.required:
            raise InvalidInput("a const param needs a default: it is its only allowed value")

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT

    def to_spec(self) -> ParamSpec:
        return ParamSpec(
            type=self.type,
            description=self.description,
            required=self.required,
            default=None if self.required else self.default,
            enum=tuple(self.enum) if self.enum is not None else None,
            minimum=self.minimum,
            maximum=self.maximum,
            secret=self.secret,
            format=self.format,
            section=self.section,
            examples=tuple(self.examples) if self.examples is not None else None,
            multiple_of=self.multiple_of,
            items=self.items,
            const=self.const,
        )


def infer_type(value: Any) -> str | None:
    """The JSON type name of a default value (bool before int: bool is an int in Python)."""
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if isinstance(value, JSON_TYPES[name]):
            return name
    return None


def as_param(value: Any) -> Param:
    """Accept a bare default value as shorthand for Param(default)."""
    if isinstance(value, Param):
        if value.type is None and not value.required:
            return Param(**{**value.__dict__, "type": infer_type(value.default)})
        return value
    return Param(default=value, type=infer_type(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is(kind: str, value: Any) -> bool:
    return isinstance(value, JSON_TYPES[kind]) and not (
        kind in ("integer", "number") and isinstance(value, bool)
    )


def check_value(name: str, value: Any, spec: ParamSpec) -> None:
    """Raise InvalidInput naming `name` when `value` does not fit `spec`: the one check behind
    the REST API, the CLI and the web UI's trigger form (which shows it under the field)."""
    kind = spec.type
    if kind and not _is(kind, value):
        raise InvalidInput(f"param {name!r} must be of type {kind}, got {json.dumps(value)}")
    if spec.const and value != spec.default:
        raise InvalidInput(f"param {name!r} is fixed to {json.dumps(spec.default)}")
    if spec.enum is not None and value not in spec.enum:
        allowed = list(spec.enum)
        raise InvalidInput(f"param {name!r} must be one of {allowed}, got {json.dumps(value)}")
    _check_number(name, value, spec)
    _check_format(name, value, spec.format)
    if spec.items and isinstance(value, list):
        for index, item in enumerate(value):
            if not _is(spec.items, item):
                raise InvalidInput(
                    f"param {name!r}: item {index + 1} must be of type {spec.items}, "
                    f"got {json.dumps(item)}"
                )


def _check_number(name: str, value: Any, spec: ParamSpec) -> None:
    bounded = spec.minimum is not None or spec.maximum is not None or spec.multiple_of
    if bounded and not _is_number(value):
        # An untyped param with bounds must still reject "abc" cleanly, not crash on `<`.
        raise InvalidInput(f"param {name!r} must be a number, got {json.dumps(value)}")
    if spec.minimum is not None and value < spec.minimum:
        raise InvalidInput(f"param {name!r} must be >= {spec.minimum}, got {value}")
    if spec.maximum is not None and value > spec.maximum:
        raise InvalidInput(f"param {name!r} must be <= {spec.maximum}, got {value}")
    step = spec.multiple_of
    if step and abs(value / step - round(value / step)) > 1e-9:
        raise InvalidInput(f"param {name!r} must be a multiple of {step:g}, got {value}")


_PARSERS: dict[str, tuple[Any, str]] = {
    "date": (date.fromisoformat, "a date like 2026-03-01"),
    "time": (time.fromisoformat, "a time of day like 09:30"),
    "date-time": (
        datetime.fromisoformat,
        "a date and time with its offset, like 2026-03-01T00:00:00Z",
    ),
}


def _check_format(name: str, value: Any, fmt: str | None) -> None:
    if fmt not in _PARSERS:
        return
    parse, what = _PARSERS[fmt]
    try:
        parsed = parse(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or (fmt == "date-time" and parsed.tzinfo is None):
        raise InvalidInput(f"param {name!r} must be {what}, got {json.dumps(value)}")


def conf_problems(param_specs: Mapping[str, ParamSpec], conf: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with each param of a trigger's conf (name -> message), in declaration
    order; unknown names come last. Empty when the conf would be accepted."""
    problems: dict[str, str] = {}
    for name, spec in param_specs.items():
        if name in conf:
            try:
                check_value(name, conf[name], spec)
            except InvalidInput as exc:
                problems[name] = str(exc)
        elif spec.required:
            problems[name] = f"param {name!r} is required and has no default; pass it in conf"
    for name in sorted(set(conf) - set(param_specs)):
        problems[name] = f"unknown param {name}"
    return problems


def resolve_conf(param_specs: Mapping[str, ParamSpec], conf: Any) -> dict[str, Any]:
    """Merge a trigger's conf over the declared defaults, or raise InvalidInput.

    Unknown keys are rejected: a typo in a param name must not silently use the default.
    """
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise InvalidInput("conf must be a JSON object mapping param names to values")
    unknown = sorted(set(conf) - set(param_specs))
    if unknown:
        known = ", ".join(sorted(param_specs)) or "none"
        raise InvalidInput(f"unknown param(s) {', '.join(unknown)}; this DAG accepts: {known}")
    problems = conf_problems(param_specs, conf)
    if problems:
        raise InvalidInput(next(iter(problems.values())))
    return {name: conf.get(name, spec.default) for name, spec in param_specs.items()}
