"""Kubernetes resource quantities ("500m", "1Gi", "2", "1e3"), parsed without a client library.

The grammar is the API server's: a signed decimal number, then a binary suffix (Ki Mi Gi Ti Pi
Ei), a decimal suffix (n u m k M G T P E, or none) or a decimal exponent (e3, E-2). DAG files
write requests and limits in it, and a mistake (`memory="lots"`) should be refused where the
DAG is defined, not when a pod is refused by the cluster.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from brisa.errors import InvalidInput

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))"  # the number
    r"(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"  # an optional suffix or exponent
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse(value: str | int | float, what: str = "quantity") -> Decimal:
    """The value of a quantity (cores, bytes, devices); InvalidInput naming `what` when it is
    not one. Numbers are read as they are written (2 is "2")."""
    text = _text(value)
    match = _QUANTITY.match(text)
    if match is None:
        raise InvalidInput(
            f"{what}: {value!r} is not a Kubernetes quantity; write e.g. '500m', '2', "
            "'512Mi', '1Gi' or '1e3'"
        )
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * Decimal(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    try:
        return number.scaleb(int(suffix[1:]))
    except (InvalidOperation, ValueError):  # an exponent too large for a Decimal
        raise InvalidInput(f"{what}: {value!r} is out of range") from None


def canonical(value: str | int | float, what: str = "quantity") -> str:
    """The quantity as the string to put in a manifest (checked, whitespace removed)."""
    parse(value, what)
    return _text(value)


def _text(value: str | int | float) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInput(f"quantity {value!r} must be a string or a number")
    return value.strip() if isinstance(value, str) else repr(value)
