"""Forge webhooks: is a request signed with the repository's webhook secret? Pure.

GitHub signs the raw body: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
GitLab sends the secret itself: `X-Gitlab-Token: <secret>`. Either one is enough. Every
comparison is constant-time, and no message ever holds the secret or the expected value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from brisa.errors import Unauthorized

GITHUB_HEADER = "X-Hub-Signature-256"
GITLAB_HEADER = "X-Gitlab-Token"
GITHUB, GITLAB = "github", "gitlab"
EXPECTED = (
    f"send {GITHUB_HEADER}: sha256=<hex HMAC-SHA256 of the body> (GitHub) or "
    f"{GITLAB_HEADER}: <secret> (GitLab), made with the repository's webhook_secret"
)


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` signed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The forge (`github` or `gitlab`) whose valid signature `headers` carry, or Unauthorized
    saying which header is missing or does not match."""
    github = _header(headers, GITHUB_HEADER)
    gitlab = _header(headers, GITLAB_HEADER)
    if github is not None and _same(github, github_signature(secret, body)):
        return GITHUB
    if gitlab is not None and _same(gitlab, secret):
        return GITLAB
    if github is not None:
        raise Unauthorized(
            f"{GITHUB_HEADER} does not match the request body signed with the repository's "
            "webhook_secret (the body must be sent unchanged, and the secrets must be the same)"
        )
    if gitlab is not None:
        raise Unauthorized(f"{GITLAB_HEADER} is not the repository's webhook_secret")
    raise Unauthorized(f"this repository's sync needs a signed request: {EXPECTED}")
