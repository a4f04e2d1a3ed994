"""K3 against the fake API server over real HTTP (`brisa.testing.kube.chaos`): seeded random
creates, changes and deletes of pods while watches get 410 Gone, are dropped, see every event
twice or find the history compacted; the reconciler's view must end equal to the server's
pods, and report vanished only the pods that were deleted, once. A few seeds here; the
benchmark runs 1,000 (docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brisa.executor.kubernetes.api import ApiAccess, KubeApi, connect
from brisa.testing.kube import FakeCluster
from brisa.testing.kube.chaos import chaos_run, recovery_after_gone

NS = "chaos"


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="t", namespaces=(NS,), bookmark_interval=0.2, history=50) as fake:
        yield fake


@pytest.fixture(scope="module")
def api(cluster: FakeCluster, tmp_path_factory: pytest.TempPathFactory) -> KubeApi:
    token: Path = tmp_path_factory.mktemp("chaos") / "token"
    token.write_text("t")
    return connect(ApiAccess(server=cluster.url, token_file=str(token), timeout=10))


@pytest.mark.parametrize("seed", range(5))
def test_the_view_ends_equal_to_the_server_whatever_the_network_did(
    cluster: FakeCluster, api: KubeApi, seed: int
) -> None:
    run = chaos_run(cluster, api, NS, seed)
    assert run.converged, run.mismatch
    assert run.wrongly_vanished == []
    assert sum(run.faults.values()) > 0  # the run did meet faults


def test_a_410_is_recovered_from(cluster: FakeCluster, api: KubeApi) -> None:
    recovery_after_gone(cluster, api, NS, "test")  # raises when it does not recover
