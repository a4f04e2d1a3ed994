"""Label and field selectors as the API server reads them from `labelSelector` and
`fieldSelector`: equality (`=`, `==`, `!=`), set membership (`in`, `notin`), existence (`key`,
`!key`), comma-separated terms that must all hold."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from brisa.testing.kube.objects import ApiStatus

Predicate = Callable[[Mapping[str, str]], bool]

_SET_TERM = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


def _split_terms(text: str) -> list[str]:
    """Commas separate terms, except inside the parentheses of a set."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _term(text: str) -> Predicate:
    if match := _SET_TERM.match(text):
        key, op, raw = match.groups()
        values = {value.strip() for value in raw.split(",") if value.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_TERM.match(text):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_TERM.match(text):
        negated, key = match.groups()
        return lambda labels: (key in labels) != bool(negated)
    raise ApiStatus.bad_request(f"unable to parse requirement: {text.strip()!r}")


def label_selector(text: str | None) -> Predicate:
    """A predicate over a labels mapping; an empty selector matches everything."""
    terms = [_term(term) for term in _split_terms(text or "")]
    return lambda labels: all(term(labels) for term in terms)


# The fields a field selector may name, per kind, as the real API server allows them.
_FIELDS: dict[str, dict[str, Callable[[dict[str, Any]], str]]] = {
    "pods": {
        "metadata.name": lambda obj: obj["metadata"]["name"],
        "metadata.namespace": lambda obj: obj["metadata"].get("namespace", ""),
        "spec.nodeName": lambda obj: obj["spec"].get("nodeName", ""),
        "status.phase": lambda obj: obj.get("status", {}).get("phase", ""),
    },
    "events": {
        "metadata.name": lambda obj: obj["metadata"]["name"],
        "metadata.namespace": lambda obj: obj["metadata"].get("namespace", ""),
        "involvedObject.name": lambda obj: obj["involvedObject"].get("name", ""),
        "involvedObject.kind": lambda obj: obj["involvedObject"].get("kind", ""),
        "involvedObject.namespace": lambda obj: obj["involvedObject"].get("namespace", ""),
        "involvedObject.uid": lambda obj: obj["involvedObject"].get("uid", ""),
        "reason": lambda obj: obj.get("reason", ""),
        "type": lambda obj: obj.get("type", ""),
    },
}
_DEFAULT_FIELDS = {
    "metadata.name": _FIELDS["pods"]["metadata.name"],
    "metadata.namespace": _FIELDS["pods"]["metadata.namespace"],
}


def field_selector(resource: str, text: str | None) -> Callable[[dict[str, Any]], bool]:
    """A predicate over whole objects; a field the kind does not index is a 400, as on a real
    server (`field label not supported`)."""
    known = _FIELDS.get(resource, _DEFAULT_FIELDS)
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for term in _split_terms(text or ""):
        match = _EQ_TERM.match(term)
        if not match:
            raise ApiStatus.bad_request(f"invalid selector: {term.strip()!r}")
        path, op, value = match.groups()
        if path not in known:
            raise ApiStatus.bad_request(f'field label not supported: "{path}"')
        getter = known[path]
        if op == "!=":
            checks.append(lambda obj, g=getter, v=value: g(obj) != v)  # type: ignore[misc]
        else:
            checks.append(lambda obj, g=getter, v=value: g(obj) == v)  # type: ignore[misc]
    return lambda obj: all(check(obj) for check in checks)
