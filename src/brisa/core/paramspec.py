"""A declared run parameter as stored with its DAG (part of the typed spec, `core/spec.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class ParamSpec:
    """A declared run parameter. Optional parts are absent from the JSON when not declared
    (`required` means no `default` key: a `None` default is a default), so DAGs that do not use
    them keep their structure version. `const`: the default is the only allowed value."""

    type: str | None = None
    description: str = ""
    required: bool = True
    default: Any = None
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    format: str | None = None
    section: str = ""
    examples: tuple[Any, ...] | None = None
    multiple_of: float | None = None
    items: str | None = None
    const: bool = False

    def to_json(self) -> Json:
        out: Json = {"type": self.type, "description": self.description}
        if not self.required:
            out["default"] = self.default
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.secret:
            out["secret"] = True
        out.update(self._ui_json())
        return out

    def _ui_json(self) -> Json:
        out: Json = {}
        if self.format is not None:
            out["format"] = self.format
        if self.section:
            out["section"] = self.section
        if self.examples is not None:
            out["examples"] = list(self.examples)
        if self.multiple_of is not None:
            out["multipleOf"] = self.multiple_of
        if self.items is not None:
            out["items"] = {"type": self.items}
        if self.const:
            out["const"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParamSpec:
        return cls(
            type=data["type"],
            description=data["description"],
            required="default" not in data,
            default=data.get("default"),
            enum=tuple(data["enum"]) if "enum" in data else None,
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            secret=bool(data.get("secret", False)),
            format=data.get("format"),
            section=data.get("section", ""),
            examples=tuple(data["examples"]) if "examples" in data else None,
            multiple_of=data.get("multipleOf"),
            items=data["items"]["type"] if "items" in data else None,
            const=bool(data.get("const", False)),
        )
