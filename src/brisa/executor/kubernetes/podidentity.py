"""A worker pod proves which attempt it is, and gets that attempt's execution token (ADR 0029).

The pod mounts a projected ServiceAccount token (`manifest.py`): short-lived, for the
audience `AUDIENCE` only (so it is worth nothing against the Kubernetes API), bound to the pod
(it dies with the pod). The worker presents it to the execution API's `exchange`; the API asks
the API server whether it is valid (a TokenReview) and for which pod, and checks that this pod
is the one Brisa launched for the attempt in the path:

- the review authenticated the token, for `AUDIENCE`;
- the service account is in the attempt's team namespace;
- the pod the token is bound to (`user.extra`) has the attempt's deterministic name, and the
  pod of that name now has the same uid, is not being deleted and carries Brisa's labels for
  that task instance and try.

Only then does the execution service issue the attempt's token (`control.execution`), once the
attempt is still queued: a replay after the attempt started is refused (409).

`refusal` and `check_pod` are pure; `PodIdentity` makes the two reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from brisa.core.records import AttemptRef
from brisa.errors import Forbidden, Unauthorized, Unavailable
from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.api import KubeApi, KubeError

log = logging.getLogger("brisa.kubernetes")
Json = Mapping[str, Any]

AUDIENCE = "brisa-execution"  # of the pod's token; must not be one of the API server's own
EXPIRATION = 600  # seconds the token is valid (the API server's minimum); the kubelet renews it
POD_NAME = "authentication.kubernetes.io/pod-name"
POD_UID = "authentication.kubernetes.io/pod-uid"
ACCOUNT_PREFIX = "system:serviceaccount:"
MAX_TOKEN = 16_384  # characters; a projected token is about 1 KB


@dataclass(frozen=True)
class Expected:
    """The pod that may speak for `ref`: its namespace and deterministic name."""

    ref: AttemptRef
    namespace: str
    pod: str


def expected_pod(team: str, ref: AttemptRef, namespace: str) -> Expected:
    return Expected(ref, namespace, naming.pod_name(team, ref.ti_id, ref.try_number))


def vouched_uid(status: Json, expected: Expected) -> str:
    """The uid of the pod a reviewed token speaks for, if it is `expected`'s pod. Raises
    Unauthorized when the token is not valid (forged, expired, another audience, its pod
    gone), Forbidden when it is valid but for another pod or namespace."""
    if not status.get("authenticated"):
        why = str(status.get("error") or "not authenticated")
        raise Unauthorized(f"the pod's service account token was refused: {why}")
    if AUDIENCE not in (status.get("audiences") or [AUDIENCE]):
        raise Unauthorized(f"the pod's service account token is not for the audience {AUDIENCE}")
    user = status.get("user") or {}
    username = str(user.get("username") or "")
    namespace = username[len(ACCOUNT_PREFIX) :].partition(":")[0]
    if not username.startswith(ACCOUNT_PREFIX) or namespace != expected.namespace:
        raise Forbidden(
            f"the token belongs to {username or 'no user'}, not to a service account of "
            f"namespace {expected.namespace}, where attempt {_attempt(expected.ref)} runs"
        )
    extra = user.get("extra") or {}
    names, uids = list(extra.get(POD_NAME) or []), list(extra.get(POD_UID) or [])
    if len(names) != 1 or len(uids) != 1:
        raise Forbidden(
            "the token is not bound to a pod: mount a projected serviceAccountToken volume "
            "(a Secret-based or TokenRequest token without a pod is not accepted)"
        )
    if names[0] != expected.pod:
        raise Forbidden(
            f"the token belongs to pod {names[0]}, not to pod {expected.pod} of attempt "
            f"{_attempt(expected.ref)}"
        )
    return str(uids[0])


def check_pod(pod: Json | None, uid: str, expected: Expected) -> None:
    """Raises Forbidden unless `pod` (read now) is the pod the token is bound to, alive, and
    labelled by Brisa for `expected`'s attempt."""
    meta = (pod or {}).get("metadata") or {}
    where = f"pod {expected.pod} in namespace {expected.namespace}"
    if not meta:
        raise Forbidden(f"{where} does not exist (any more)")
    if meta.get("uid") != uid:
        raise Forbidden(f"{where} is not the pod the token is bound to (another uid)")
    if meta.get("deletionTimestamp"):
        raise Forbidden(f"{where} is being deleted")
    labels = meta.get("labels") or {}
    if naming.attempt_from_labels(labels) != expected.ref:
        raise Forbidden(f"{where} is not Brisa's pod of attempt {_attempt(expected.ref)}")


def looks_like_jwt(token: str) -> bool:
    """Three non-empty base64url parts, of a sane length: the shape of any service account
    token (checked before asking the API server about it)."""
    parts = token.split(".")
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    return (
        len(token) <= MAX_TOKEN and len(parts) == 3 and all(p and set(p) <= alphabet for p in parts)
    )


def _attempt(ref: AttemptRef) -> str:
    return f"{ref.try_number} of task instance {ref.ti_id}"


class PodIdentity:
    """`identity(team, ref, token)` returns when `token` is the projected token of the pod
    Brisa launched for `ref`, raises Unauthorized or Forbidden otherwise (`vouched_uid`,
    `check_pod`), Unavailable when the API server cannot answer. `connect` builds the client
    on first use."""

    def __init__(self, connect: Callable[[], KubeApi], namespace_for: Callable[[str], str]):
        self._connect, self._namespace_for = connect, namespace_for
        self._api: KubeApi | None = None
        self._lock = threading.Lock()

    def __call__(self, team: str, ref: AttemptRef, token: str) -> None:
        if not looks_like_jwt(token):  # not worth a round trip to the API server
            raise Unauthorized(
                "the pod's service account token was refused: not a JWT (three base64url "
                "parts); send the projected token file's content"
            )
        expected = expected_pod(team, ref, self._namespace_for(team))
        try:
            api = self._client()
            uid = vouched_uid(api.review_token(token, [AUDIENCE]), expected)
            check_pod(api.get_pod(expected.namespace, expected.pod), uid, expected)
        except KubeError as exc:
            log.warning("could not check the identity of pod %s: %s", expected.pod, exc)
            raise Unavailable(
                f"the Kubernetes API server could not check the pod's identity ({exc}); "
                "Brisa's API needs `create tokenreviews` (ClusterRole brisa-token-review) and "
                "`get pods` in the team namespace (`brisa k8s rbac` prints both)"
            ) from None

    def _client(self) -> KubeApi:
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api
