"""Execution tokens (ADR 0008): random, stored as a digest bound to one attempt, accepted only
as the current token of a queued or running attempt."""

import pytest

from brisa.core import tokens
from brisa.core.records import AttemptRef
from brisa.core.tokens import Credential
from brisa.errors import Conflict, Unauthorized

REF = AttemptRef(7, 2)


def held(token: str, ref: AttemptRef = REF, *, current: bool = True) -> Credential:
    return Credential(tokens.digest(token, ref), ref.try_number, current)


def test_tokens_are_random_and_only_their_digest_is_kept() -> None:
    first, second = tokens.issue(REF), tokens.issue(REF)
    assert first.token != second.token and len(first.token) >= 43
    assert first.digest == tokens.digest(first.token, REF)
    assert first.token not in first.digest


def test_the_randomness_is_a_parameter() -> None:
    issued = tokens.issue(REF, random=lambda n: "r" * n)
    assert issued.token == "r" * tokens.TOKEN_BYTES


def test_a_digest_is_bound_to_its_attempt() -> None:
    token = tokens.issue(REF).token
    refs = (REF, AttemptRef(7, 3), AttemptRef(8, 2))
    assert len({tokens.digest(token, ref) for ref in refs}) == 3


def test_the_current_token_of_a_current_attempt_is_accepted() -> None:
    token = tokens.issue(REF).token
    assert tokens.verify(token, REF, held(token)) == tokens.digest(token, REF)


def test_any_other_token_is_unauthorized() -> None:
    token = tokens.issue(REF).token
    other = tokens.issue(REF).token
    for presented, ref, credential in (
        (other, REF, held(token)),  # not the one issued
        (token, AttemptRef(7, 3), held(token)),  # for another try
        (token, AttemptRef(8, 2), held(token)),  # for another task instance
        (token, REF, Credential(None, 2, True)),  # none issued
        (token, REF, Credential(tokens.digest(token, REF), 3, True)),  # a new try since
        (token, REF, None),  # no such task instance
        ("", REF, Credential("", 2, True)),
    ):
        with pytest.raises(Unauthorized):
            tokens.verify(presented, ref, credential)


def test_the_token_of_an_attempt_that_is_over_is_refused() -> None:
    token = tokens.issue(REF).token
    with pytest.raises(Conflict):
        tokens.verify(token, REF, held(token, current=False))


def test_the_servers_secret_key_is_no_longer_enough() -> None:
    """The old scheme: HMAC(secret_key, "attempt:<ti>:<try>"), computable by any task that
    could read the key."""
    import hashlib
    import hmac

    token = tokens.issue(REF).token
    signature = hmac.new(b"secret-key", b"attempt:7:2", hashlib.sha256).hexdigest()
    with pytest.raises(Unauthorized):
        tokens.verify(f"7.2.{signature}", REF, held(token))
