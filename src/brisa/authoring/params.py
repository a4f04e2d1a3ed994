"""Typed DAG parameters: declared with defaults, validated when a run is triggered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brisa.core.spec import ParamSpec
from brisa.errors import InvalidInput

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}

_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Param:
    """A run parameter. `default` is used when a trigger does not set it.

    A param without a default is required (manual DAGs only). `secret=True` masks its value
    (as ***) in task logs.
    """

    default: Any = _NO_DEFAULT
    type: str | None = None
    description: str = ""
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type is not None and self.type not in JSON_TYPES:
            known = ", ".join(JSON_TYPES)
            raise InvalidInput(f"unknown param type {self.type!r}; use one of {known}")

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


def check_value(name: str, value: Any, spec: ParamSpec) -> None:
    kind = spec.type
    if kind:
        ok = isinstance(value, JSON_TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            raise InvalidInput(f"param {name!r} must be of type {kind}, got {json.dumps(value)}")
    if spec.enum is not None and value not in spec.enum:
        allowed = list(spec.enum)
        raise InvalidInput(f"param {name!r} must be one of {allowed}, got {json.dumps(value)}")
    bounded = spec.minimum is not None or spec.maximum is not None
    if bounded and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        # An untyped param with bounds must still reject "abc" cleanly, not crash on `<`.
        raise InvalidInput(f"param {name!r} must be a number, got {json.dumps(value)}")
    if spec.minimum is not None and value < spec.minimum:
        raise InvalidInput(f"param {name!r} must be >= {spec.minimum}, got {value}")
    if spec.maximum is not None and value > spec.maximum:
        raise InvalidInput(f"param {name!r} must be <= {spec.maximum}, got {value}")


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
    resolved: dict[str, Any] = {}
    for name, spec in param_specs.items():
        if name in conf:
            check_value(name, conf[name], spec)
            resolved[name] = conf[name]
        elif not spec.required:
            resolved[name] = spec.default
        else:
            raise InvalidInput(f"param {name!r} is required and has no default; pass it in conf")
    return resolved
