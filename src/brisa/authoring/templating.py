"""A deliberately small `{{ name.path }}` templater for shell commands.

It resolves dotted names against the task context and nothing else: no expressions, no
code execution, and no template engine on the worker's import path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from brisa.errors import InvalidInput

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")


def names_in(template: str) -> list[str]:
    """The dotted names a template refers to, in order."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def _lookup(variables: dict[str, Any], dotted: str) -> Any:
    value: Any = variables
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise InvalidInput(f"template refers to {{{{ {dotted} }}}}, which is not defined")
    return value


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def render(template: str, variables: dict[str, Any]) -> str:
    """Replace every `{{ name }}` with its value; unknown names raise InvalidInput."""
    return _PLACEHOLDER.sub(lambda m: _render_value(_lookup(variables, m.group(1))), template)
