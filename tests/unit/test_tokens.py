"""Execution tokens are valid for exactly one attempt."""

import pytest

from brisa.core import tokens
from brisa.core.records import AttemptRef
from brisa.errors import Unauthorized


def test_a_token_is_valid_for_its_attempt_only() -> None:
    token = tokens.issue("key", AttemptRef(7, 2))
    tokens.verify("key", token, AttemptRef(7, 2))
    for other in (AttemptRef(7, 1), AttemptRef(7, 3), AttemptRef(8, 2)):
        with pytest.raises(Unauthorized):
            tokens.verify("key", token, other)


def test_a_token_signed_with_another_key_or_tampered_is_rejected() -> None:
    with pytest.raises(Unauthorized):
        tokens.verify("key", tokens.issue("other", AttemptRef(1, 1)), AttemptRef(1, 1))
    token = tokens.issue("key", AttemptRef(1, 1))
    with pytest.raises(Unauthorized):
        tokens.verify("key", token[:-1] + ("0" if token[-1] != "0" else "1"), AttemptRef(1, 1))
    with pytest.raises(Unauthorized):
        tokens.verify("key", "garbage", AttemptRef(1, 1))
