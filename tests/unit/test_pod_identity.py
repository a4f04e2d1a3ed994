"""Whether a reviewed pod token speaks for an attempt (`podidentity.py`, ADR 0029): the
TokenReview's answer and the pod read now, each way it can be wrong, refused with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from brisa.core.records import AttemptRef
from brisa.errors import Forbidden, Unauthorized
from brisa.executor.kubernetes.podidentity import (
    POD_NAME,
    POD_UID,
    check_pod,
    expected_pod,
    looks_like_jwt,
    vouched_uid,
)

REF = AttemptRef(7, 2)
EXPECTED = expected_pod("data-eng", REF, "brisa-data-eng")
POD = EXPECTED.pod
UID = "0b7c5e2a-uid"


def status(**changes: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "authenticated": True,
        "audiences": ["brisa-execution"],
        "user": {
            "username": "system:serviceaccount:brisa-data-eng:brisa-task",
            "extra": {POD_NAME: [POD], POD_UID: [UID]},
        },
    }
    answer.update(changes)
    return answer


def pod(**meta: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "brisa", "brisa.dev/ti": "7", "brisa.dev/try": "2"}
    return {"metadata": {"name": POD, "uid": UID, "labels": labels, **meta}}


def test_the_attempts_own_pod_is_vouched_for() -> None:
    assert POD == "brisa-data-eng-7-2"
    assert vouched_uid(status(), EXPECTED) == UID
    check_pod(pod(), UID, EXPECTED)  # no error


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        (
            {"user": {}, "error": "[invalid bearer token, service account token has expired]"},
            Unauthorized,
            "refused: [invalid bearer token, service account token has expired]",
        ),
        (status(audiences=["https://kubernetes.default.svc"]), Unauthorized, "audience"),
        (
            status(user={"username": "system:serviceaccount:other-team:x", "extra": {}}),
            Forbidden,
            "not to a service account of namespace brisa-data-eng",
        ),
        (
            status(user={"username": "alice", "extra": {}}),
            Forbidden,
            "belongs to alice",
        ),
        (
            status(user={"username": "system:serviceaccount:brisa-data-eng:x", "extra": {}}),
            Forbidden,
            "not bound to a pod",
        ),
        (
            status(
                user={
                    "username": "system:serviceaccount:brisa-data-eng:x",
                    "extra": {POD_NAME: ["brisa-data-eng-8-1"], POD_UID: ["u"]},
                }
            ),
            Forbidden,
            "belongs to pod brisa-data-eng-8-1, not to pod brisa-data-eng-7-2",
        ),
    ],
)
def test_a_review_that_does_not_vouch_for_the_attempts_pod_is_refused(
    answer: dict[str, Any], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason.replace("[", r"\[").replace("]", r"\]")):
        vouched_uid(answer, EXPECTED)


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        (None, "does not exist"),
        (pod(uid="another-uid"), "another uid"),
        (pod(deletionTimestamp="2026-12-07T10:00:00Z"), "being deleted"),
        (pod(labels={"brisa.dev/ti": "7", "brisa.dev/try": "2"}), "not Brisa's pod"),
        (
            pod(
                labels={
                    "app.kubernetes.io/managed-by": "brisa",
                    "brisa.dev/ti": "7",
                    "brisa.dev/try": "3",
                }
            ),
            "not Brisa's pod of attempt 2 of task instance 7",
        ),
    ],
)
def test_the_pod_read_now_must_be_the_one_the_token_is_bound_to(
    found: dict[str, Any] | None, reason: str
) -> None:
    with pytest.raises(Forbidden, match=reason):
        check_pod(found, UID, EXPECTED)


def test_only_token_shaped_strings_go_to_the_api_server() -> None:
    assert looks_like_jwt("eyJhbGciOi.eyJhdWQiOlsi.c2ln-_")
    for bad in ("", "a.b", "a..c", "a.b.c.d", "a.b c.d", "a.b.c=", "a." + "b" * 20_000 + ".c"):
        assert not looks_like_jwt(bad), bad
