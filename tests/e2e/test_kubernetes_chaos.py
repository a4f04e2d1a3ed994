"""K8's orphan check under chaos (PLATFORM.md, ADR 0028): three schedulers on PostgreSQL under
the Kubernetes executor run container tasks (some exit 1, some OOM killed, some evicted) while
a scheduler is SIGKILLed, one frozen past its lease, the namespace's holder killed and running
pods deleted behind Brisa's back (`brisa.testing.kube.fleetchaos`). Afterwards: every run
ended, no pod was created twice for one attempt, each attempt's outcome was recorded once,
no success was recorded for a pod deleted while it ran, the planted orphan was collected and
the pods left are what the deletion policy keeps. Short settings: lease ttl 3 s, orphan grace
5 s, keep_failed_for 10 s. `python -m bench.kube_chaos` is the long version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from brisa.testing.kube.fleetchaos import Config, run

pytestmark = [pytest.mark.chaos]


@pytest.mark.parametrize("policy", ["always", "on_success"])
def test_no_pod_is_left_behind_after_a_kubernetes_chaos_run(
    policy: str, tmp_path: Path, postgres_url: str
) -> None:
    result = run(Config(duration=30.0, tasks=10, delete_policy=policy), tmp_path, postgres_url)
    print(result.render())
    assert sum(result.faults.values()) > 0
    assert result.runs and result.attempts > 0
    assert result.deleted_running  # the check on them had something to catch
    assert result.orphan_collected
    assert result.violations == []
    assert result.left == []  # on_success: the failed pods kept keep_failed_for went after it
