"""Bound ServiceAccount tokens as the fake cluster makes and reviews them: what the kubelet
writes into a pod's projected `serviceAccountToken` volume, and the answer to a TokenReview
(`POST /apis/authentication.k8s.io/v1/tokenreviews`).

The shape is the real one: a JWT whose claims carry the audiences, the expiry, the service
account as `sub` and the pod it is bound to (`kubernetes.io.pod`); a review is
authenticated only when the signature holds, the token is not expired, one of its audiences is
one the reviewer asked for (the API server's own when it asked for none) and the pod it is
bound to still exists with the same uid. The user of an authenticated review names the pod in
`extra` (`authentication.kubernetes.io/pod-name`, `.../pod-uid`), and `status.audiences` is
the audiences the token was valid for. Signed with HMAC (HS256) under a key of the fake
cluster: a real cluster signs with RS256, which a reviewer never sees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable

from brisa.testing.kube.objects import Json

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = [ISSUER]  # the API server's own audience (`--api-audiences`)
MIN_EXPIRATION = 600  # seconds: the API server refuses a shorter `expirationSeconds`
DEFAULT_EXPIRATION = 3607  # the kubelet's default for a projected token
NODE = "fake-node"
POD_NAME = "authentication.kubernetes.io/pod-name"
POD_UID = "authentication.kubernetes.io/pod-uid"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ServiceAccountTokens:
    """Makes and reviews the tokens of one fake cluster; `clock` is wall time in seconds."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self.clock = clock

    def mint(
        self,
        pod: Json,
        audience: str = "",
        expiration: int = DEFAULT_EXPIRATION,
        *,
        issued_at: float | None = None,
    ) -> str:
        """A token bound to `pod` for `audience` (the API server's when empty)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace = meta.get("namespace", "default")
        account = spec.get("serviceAccountName") or "default"
        now = int(self.clock() if issued_at is None else issued_at)
        claims = {
            "aud": [audience] if audience else list(API_AUDIENCES),
            "exp": now + max(MIN_EXPIRATION, int(expiration)),
            "iat": now,
            "nbf": now,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "node": {"name": NODE, "uid": _uid(NODE)},
                "pod": {"name": meta["name"], "uid": meta["uid"]},
                "serviceaccount": {"name": account, "uid": _uid(f"{namespace}/{account}")},
            },
            "sub": f"system:serviceaccount:{namespace}:{account}",
        }
        return self.sign(claims)

    def sign(self, claims: Json) -> str:
        header = _b64(json.dumps({"alg": "HS256", "kid": "fake", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def review(self, review: Json, find_pod: Callable[[str, str], Json | None]) -> Json:
        """The TokenReview answered: `review` with its `status` (`find_pod(namespace, name)`
        reads the pod a token is bound to)."""
        spec = review.get("spec") or {}
        wanted = list(spec.get("audiences") or API_AUDIENCES)
        try:
            claims = self._claims(str(spec.get("token") or ""))
            audiences = [a for a in claims.get("aud") or [] if a in wanted]
            if not audiences:
                raise _Invalid(
                    f"token audiences {json.dumps(claims.get('aud'))} is invalid for the target "
                    f"audiences {json.dumps(wanted)}"
                )
            status = self._user(claims, audiences, find_pod)
        except _Invalid as invalid:
            status = {"user": {}, "error": f"[invalid bearer token, {invalid}]"}
        return {
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": status,
        }

    def _claims(self, token: str) -> Json:
        parts = token.split(".")
        if len(parts) != 3:
            raise _Invalid("square/go-jose: compact JWS format must have three parts")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        try:
            given = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            raise _Invalid("square/go-jose: error in cryptographic primitive") from None
        if not hmac.compare_digest(given, expected.digest()) or not isinstance(claims, dict):
            raise _Invalid("square/go-jose: error in cryptographic primitive")
        now = self.clock()
        if now >= float(claims.get("exp", 0)):
            raise _Invalid("service account token has expired")
        if now < float(claims.get("nbf", 0)) - 60:
            raise _Invalid("service account token is not valid yet")
        return claims

    @staticmethod
    def _user(
        claims: Json, audiences: list[str], find_pod: Callable[[str, str], Json | None]
    ) -> Json:
        bound = claims.get("kubernetes.io") or {}
        namespace = str(bound.get("namespace", ""))
        pod_ref = bound.get("pod") or {}
        account = bound.get("serviceaccount") or {}
        extra: dict[str, list[str]] = {}
        if pod_ref:
            pod = find_pod(namespace, str(pod_ref.get("name", "")))
            if pod is None:
                raise _Invalid(f'pods "{pod_ref.get("name")}" not found')
            uid = pod["metadata"]["uid"]
            if uid != pod_ref.get("uid") or pod["metadata"].get("deletionTimestamp"):
                raise _Invalid(
                    f"pod UID ({uid}) does not match the token's bound object "
                    f"({pod_ref.get('uid')}) or the pod is being deleted"
                )
            extra[POD_NAME], extra[POD_UID] = [pod_ref["name"]], [pod_ref["uid"]]
            node = bound.get("node") or {}
            if node:
                extra["authentication.kubernetes.io/node-name"] = [node.get("name", "")]
                extra["authentication.kubernetes.io/node-uid"] = [node.get("uid", "")]
        extra["authentication.kubernetes.io/credential-id"] = [f"JTI={claims.get('jti', '')}"]
        return {
            "authenticated": True,
            "user": {
                "username": claims.get("sub", ""),
                "uid": account.get("uid", ""),
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
                "extra": extra,
            },
            "audiences": audiences,
        }


class _Invalid(Exception):
    """Why a token is not authenticated (the review's `status.error`)."""


def _uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-kube:{name}"))
