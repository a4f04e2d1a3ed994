"""Execution tokens: a worker may act on exactly one attempt, and nothing else.

A token is `<ti_id>.<try_number>.<hmac>`, signed with the deployment's secret key. It grants
start/heartbeat/finish for that attempt only; the store's guards make it useless once the
attempt is no longer current (cleared, retried, timed out).
"""

from __future__ import annotations

import hashlib
import hmac

from brisa.core.records import AttemptRef
from brisa.errors import Unauthorized


def _signature(secret: str, ref: AttemptRef) -> str:
    message = f"attempt:{ref.ti_id}:{ref.try_number}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def issue(secret: str, ref: AttemptRef) -> str:
    return f"{ref.ti_id}.{ref.try_number}.{_signature(secret, ref)}"


def verify(secret: str, token: str, ref: AttemptRef) -> None:
    """Raise Unauthorized unless `token` was issued for exactly `ref`."""
    parts = token.split(".")
    if len(parts) != 3 or parts[:2] != [str(ref.ti_id), str(ref.try_number)]:
        raise Unauthorized("this execution token is for another attempt")
    if not hmac.compare_digest(parts[2], _signature(secret, ref)):
        raise Unauthorized("invalid execution token")
