"""A deliberately small `{{ name.path }}` templater for shell commands.

It resolves dotted names against the task context and nothing else: no expressions, no
code execution, and no template engine on the worker's import path. One filter exists,
`{{ params.x | shquote }}`, which quotes a value for /bin/sh (`shlex.quote`).

Params come from whoever triggers a run, so a shell command must quote them: `shell_errors`
finds every params placeholder without `| shquote`, or inside quotes (where the filter's own
quotes would end the author's), and the DAG is refused when it is parsed (ADR 0007).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from typing import Any

from brisa.errors import InvalidInput

_PLACEHOLDER = re.compile(
    r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*(?:\|\s*([A-Za-z_]\w*)\s*)?\}\}"
)

FILTERS: dict[str, Callable[[str], str]] = {"shquote": shlex.quote}


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


def _unknown_filter(name: str) -> str:
    return f"unknown template filter {name!r}; filters: {', '.join(sorted(FILTERS))}"


def _filter(name: str | None) -> Callable[[str], str]:
    if name is None:
        return lambda text: text
    if name not in FILTERS:
        raise InvalidInput(_unknown_filter(name))
    return FILTERS[name]


def _substitute(match: re.Match[str], variables: dict[str, Any]) -> str:
    apply = _filter(match.group(2))
    return apply(_render_value(_lookup(variables, match.group(1))))


def render(template: str, variables: dict[str, Any]) -> str:
    """Replace every `{{ name }}` (or `{{ name | filter }}`) with its value; unknown names and
    filters raise InvalidInput."""
    return _PLACEHOLDER.sub(lambda m: _substitute(m, variables), template)


def _quoting(template: str) -> Iterator[tuple[re.Match[str], str | None]]:
    """Every placeholder of a shell command with the quote it stands in (' or "), or None
    outside quotes. Follows /bin/sh's quotes and backslashes, not its whole grammar."""
    quote: str | None = None
    index = 0
    while index < len(template):
        char = template[index]
        if char == "{" and (match := _PLACEHOLDER.match(template, index)):
            yield match, quote
            index = match.end()
            continue
        if char == "\\" and quote != "'":
            index += 1  # the next character is escaped
        elif char in "'\"" and quote in (None, char):
            quote = None if quote else char
        index += 1


def _is_param(name: str) -> bool:
    return name == "params" or name.startswith("params.")


def shell_errors(command: str) -> list[str]:
    """What is wrong with the params placeholders of a shell command (empty when nothing):
    each must be `{{ params.x | shquote }}`, outside quotes. Unknown filters too."""
    errors = []
    for match, quote in _quoting(command):
        name, filter_name = match.group(1), match.group(2)
        if filter_name is not None and filter_name not in FILTERS:
            errors.append(_unknown_filter(filter_name))
        elif _is_param(name) and filter_name != "shquote":
            errors.append(
                f"{match.group(0)} puts a param into the shell command unquoted, so whoever "
                f"triggers a run can run commands; write {{{{ {name} | shquote }}}}"
            )
        elif filter_name == "shquote" and quote is not None:
            errors.append(
                f"{match.group(0)} stands inside {quote} quotes, which the quotes shquote adds "
                "would end; remove the quotes around it (shquote quotes the whole value)"
            )
    return errors


def render_shell(command: str, variables: dict[str, Any]) -> str:
    """A shell command rendered, refused (InvalidInput) when `shell_errors` finds anything:
    a DAG parsed before the check existed never runs an unquoted param."""
    errors = shell_errors(command)
    if errors:
        raise InvalidInput("; ".join(errors))
    return render(command, variables)
