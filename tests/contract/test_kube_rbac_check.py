"""The start-up check against the fake API server: each verb of the executor's Role that RBAC
refuses is named, with the Role that would grant it, on both client implementations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from brisa.executor.kubernetes import official_client
from brisa.executor.kubernetes.api import ApiAccess, Forbidden, KubeApi, connect
from brisa.executor.kubernetes.rbac import EXECUTOR_ACCESS, REVIEW_ROLE, ROLE
from brisa.testing.kube import FakeCluster

NS = "brisa-team-a"
TOKEN = "rbac-token"
CLIENTS: dict[str, Callable[[ApiAccess], KubeApi]] = {
    "lightkube": connect,
    "official": official_client.connect,
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token=TOKEN, namespaces=(NS,)) as fake:
        yield fake


@pytest.fixture(scope="module", params=sorted(CLIENTS))
def api(
    request: pytest.FixtureRequest, cluster: FakeCluster, tmp_path_factory: pytest.TempPathFactory
) -> KubeApi:
    token: Path = tmp_path_factory.mktemp("rbac") / "token"
    token.write_text(TOKEN)
    return CLIENTS[request.param](ApiAccess(server=cluster.url, token_file=str(token), timeout=5))


@pytest.mark.parametrize(("verb", "resource"), EXECUTOR_ACCESS)
def test_a_refused_verb_is_named_with_the_role_that_grants_it(
    api: KubeApi, cluster: FakeCluster, verb: str, resource: str
) -> None:
    api.check(NS)
    cluster.api.forbid(verb, resource)
    try:
        with pytest.raises(Forbidden) as refused:
            api.check(NS)
    finally:
        cluster.api.allow(verb, resource)
    message = str(refused.value)
    assert f"may not {verb} {resource} in namespace {NS} (RBAC)" in message
    assert f"the Role {ROLE}" in message and "brisa k8s rbac" in message


def test_a_refused_token_review_is_named_with_the_cluster_role(
    api: KubeApi, cluster: FakeCluster
) -> None:
    """Brisa's API reviews worker pods' tokens (ADR 0029): checked at start, not at the first
    pod."""
    cluster.api.forbid("create", "tokenreviews")
    try:
        with pytest.raises(Forbidden) as refused:
            api.check(NS)
    finally:
        cluster.api.allow("create", "tokenreviews")
    message = str(refused.value)
    assert "may not create tokenreviews.authentication.k8s.io at the cluster scope" in message
    assert f"the ClusterRole {REVIEW_ROLE}" in message


def test_a_verb_outside_the_role_is_not_asked_for(api: KubeApi, cluster: FakeCluster) -> None:
    cluster.api.forbid("create", "secrets")  # K7: the executor creates no Secret any more
    cluster.api.forbid("get", "secrets")
    cluster.api.forbid("create", "pods/exec")
    try:
        api.check(NS)
    finally:
        cluster.api.allow("create", "secrets")
        cluster.api.allow("get", "secrets")
        cluster.api.allow("create", "pods/exec")
