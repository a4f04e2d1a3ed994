"""Webhook signatures: a forge's signed request is accepted, anything else is refused with a
message that names the header to send and never the secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from brisa.core.webhooks import GITHUB, GITLAB, github_signature, verify
from brisa.errors import Unauthorized

SECRET = "It's a Secret to Everybody"
BODY = b'{"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567"}'


def refused(headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(Unauthorized) as caught:
        verify(SECRET, body, headers)
    message = str(caught.value)
    assert SECRET not in message
    assert github_signature(SECRET, body) not in message
    return message


def test_github_documented_example_signature() -> None:
    # The example of GitHub's "Validating webhook deliveries" documentation.
    assert github_signature(SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_a_valid_github_signature_is_accepted() -> None:
    signature = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert verify(SECRET, BODY, {"X-Hub-Signature-256": signature}) == GITHUB


def test_header_names_are_case_insensitive() -> None:
    headers = {"x-hub-signature-256": github_signature(SECRET, BODY)}
    assert verify(SECRET, BODY, headers) == GITHUB
    assert verify(SECRET, BODY, {"x-gitlab-token": SECRET}) == GITLAB


def test_a_valid_gitlab_token_is_accepted() -> None:
    assert verify(SECRET, BODY, {"X-Gitlab-Token": SECRET}) == GITLAB


def test_a_missing_signature_says_which_headers_to_send() -> None:
    message = refused({"Content-Type": "application/json"})
    assert "X-Hub-Signature-256" in message and "X-Gitlab-Token" in message


def test_a_signature_made_with_another_secret_is_refused() -> None:
    message = refused({"X-Hub-Signature-256": github_signature("another secret", BODY)})
    assert "X-Hub-Signature-256 does not match" in message


def test_a_tampered_body_is_refused() -> None:
    signature = github_signature(SECRET, BODY)
    message = refused({"X-Hub-Signature-256": signature}, body=BODY.replace(b"main", b"evil"))
    assert "X-Hub-Signature-256 does not match" in message


@pytest.mark.parametrize(
    "value",
    ["", "sha256=", "sha1=" + hashlib.sha1(BODY).hexdigest(), "garbage", "sha256=é"],
)
def test_malformed_github_signatures_are_refused(value: str) -> None:
    assert "X-Hub-Signature-256" in refused({"X-Hub-Signature-256": value})


def test_a_wrong_gitlab_token_is_refused() -> None:
    message = refused({"X-Gitlab-Token": SECRET + "x"})
    assert "X-Gitlab-Token is not" in message
    assert "X-Gitlab-Token" in refused({"X-Gitlab-Token": ""})


def test_one_valid_header_is_enough() -> None:
    headers = {"X-Hub-Signature-256": "sha256=00", "X-Gitlab-Token": SECRET}
    assert verify(SECRET, BODY, headers) == GITLAB
