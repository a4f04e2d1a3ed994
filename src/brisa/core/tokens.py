"""Execution tokens: a worker may act on exactly one attempt, while it is current, and nothing
else (ADR 0008).

A token is a random secret made for one attempt each time it is launched (`issue`). The store
keeps only its digest, with the attempt; the clear token goes to that attempt's worker and
nowhere else. Nothing a task can read (the server's secret key, the database) is enough to
compute a token, and a token is worth nothing once its attempt is over: a new try or a
relaunch replaces the digest, and an attempt that is no longer queued or running refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from brisa.core.records import AttemptRef
from brisa.errors import Conflict, Unauthorized

TOKEN_BYTES = 32  # of randomness: 43 URL-safe characters


@dataclass(frozen=True)
class Issued:
    """A new token: `token` for the worker only, `digest` for the store."""

    token: str
    digest: str


@dataclass(frozen=True)
class Credential:
    """What the store holds about an attempt's task instance now: the digest of the token of
    its current try (None before one is issued), that try, and whether it is queued or
    running."""

    digest: str | None
    try_number: int
    current: bool


def digest(token: str, ref: AttemptRef) -> str:
    """The stored form of a token, bound to its attempt: the same token presented for another
    attempt has another digest."""
    message = f"attempt:{ref.ti_id}:{ref.try_number}:{token}".encode()
    return hashlib.sha256(message).hexdigest()


def issue(ref: AttemptRef, random: Callable[[int], str] = secrets.token_urlsafe) -> Issued:
    token = random(TOKEN_BYTES)
    return Issued(token, digest(token, ref))


def verify(token: str, ref: AttemptRef, held: Credential | None) -> str:
    """The token's digest if it is the one issued for `ref`. Raises Unauthorized when it is
    not (never issued, for another attempt or try, replaced by a relaunch), Conflict when it
    is but the attempt is over (finished, cleared, marked): the worker must stop."""
    presented = digest(token, ref)
    expected = held.digest if held and held.digest and held.try_number == ref.try_number else ""
    if not hmac.compare_digest(presented, expected):
        raise Unauthorized("invalid execution token: not the one issued for this attempt")
    assert held is not None
    if not held.current:
        raise Conflict("this attempt is no longer current; stop the task")
    return presented
