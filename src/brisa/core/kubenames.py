"""Kubernetes' syntax for names, label keys and label values, checked and made to fit.

Object names (DNS-1123 labels, at most 63 characters) and label values (at most 63 of
`[A-Za-z0-9_.-]`, alphanumeric at both ends) cannot hold every DAG id, run id or team name.
`fitted_value` and `fitted_name` keep what fits and end with a short hash of the whole when
anything was changed or cut, so two different ids never share a value by accident.
"""

from __future__ import annotations

import hashlib
import re

MAX_LABEL = 63
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_HASH = 8


def is_dns_label(text: str) -> bool:
    return len(text) <= MAX_LABEL and bool(_DNS_LABEL.match(text))


def is_dns_subdomain(text: str) -> bool:
    return len(text) <= 253 and bool(_DNS_SUBDOMAIN.match(text))


def label_value_error(value: object) -> str | None:
    """What is wrong with a label value, or None."""
    if not isinstance(value, str):
        return f"label value {value!r} must be a string"
    if len(value) > MAX_LABEL:
        return f"label value {value[:20]!r}... is {len(value)} characters, over {MAX_LABEL}"
    if not _LABEL_VALUE.match(value):
        return (
            f"label value {value!r} may hold only letters, digits, '-', '_' and '.', "
            "and must begin and end with a letter or digit"
        )
    return None


def key_error(key: object, what: str = "label key") -> str | None:
    """What is wrong with a label or annotation key (`[prefix/]name`), or None."""
    if not isinstance(key, str) or not key:
        return f"{what} {key!r} must be a non-empty string"
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns_subdomain(prefix):
        return f"{what} {key!r}: prefix {prefix!r} is not a DNS subdomain"
    if len(name) > MAX_LABEL or not _NAME_PART.match(name):
        return (
            f"{what} {key!r}: the name part must be 1 to {MAX_LABEL} letters, digits, '-', "
            "'_' or '.', beginning and ending with a letter or digit"
        )
    return None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH]


def fitted_value(text: str, limit: int = MAX_LABEL) -> str:
    """A valid label value standing for `text`: `text` itself when it is one, else what
    fits of it followed by a hash of the whole."""
    if len(text) <= limit and label_value_error(text) is None:
        return text
    kept = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[: limit - _HASH - 1].strip("-_.")
    return f"{kept}-{digest(text)}" if kept else digest(text)


def fitted_name(text: str, limit: int) -> str:
    """A DNS-1123 label (lowercase) standing for `text`, at most `limit` characters."""
    if len(text) <= limit and is_dns_label(text):
        return text
    kept = re.sub(r"[^a-z0-9-]", "-", text.lower())[: max(limit - _HASH - 1, 0)].strip("-")
    return f"{kept}-{digest(text)}" if kept else digest(text)[:limit]
