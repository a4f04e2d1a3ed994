"""The pod of one launch: the attempt's ids, its container task's templates filled in, and the
manifest (`manifest.pod_manifest`, pure), marked with the task's kind."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from brisa.authoring.container import rendered
from brisa.authoring.context import TaskContext
from brisa.core.records import AttemptRef
from brisa.core.spec import ContainerRun
from brisa.executor.base import Attempt
from brisa.executor.kubernetes.classify import KIND
from brisa.executor.kubernetes.manifest import PodConfig, pod_manifest
from brisa.executor.kubernetes.naming import AttemptPod

FIRST_RELAUNCH = 5.0  # seconds after a refused create (a quota's 403) before the next ...
MAX_RELAUNCH = 300.0  # ... doubling with each refusal in a row, up to this


def relaunch_delay(refusals: int, ref: AttemptRef) -> float:
    """Seconds before a create refused `refusals` times in a row is sent again: doubling, capped,
    spread by the attempt (±25 %, the same for one attempt) so that attempts refused by one
    quota together do not come back together."""
    delay = min(MAX_RELAUNCH, FIRST_RELAUNCH * 2.0 ** min(refusals - 1, 20))
    spread = (ref.ti_id * 7919 + ref.try_number * 104729) % 1000 / 1000
    return delay * (0.75 + spread / 2)


def manifest_for(
    attempt: Attempt,
    ref: AttemptRef,
    pod: PodConfig,
    *,
    deployment: str,
    worker_env: Mapping[str, str],
    scope: str = "",
) -> dict[str, Any]:
    """The attempt's pod manifest (InvalidInput when its settings or template cannot make one)."""
    ids = AttemptPod(
        deployment=deployment,
        team=attempt.team,
        dag_id=attempt.dag_id,
        run_id=attempt.run_id,
        task_id=attempt.task_id,
        ti_id=ref.ti_id,
        try_number=ref.try_number,
        launched_at=int(time.time()),
    )
    body = attempt.task.body
    filled = (
        rendered(body, _context(attempt, ref).template_vars())
        if isinstance(body, ContainerRun)
        else None
    )
    manifest = pod_manifest(ids, attempt.task, pod, worker_env, body=filled, scope=scope)
    manifest["metadata"].setdefault("annotations", {})[KIND] = attempt.task.kind
    return manifest


def _context(attempt: Attempt, ref: AttemptRef) -> TaskContext:
    start, end = attempt.data_interval
    return TaskContext(
        team=attempt.team,
        dag_id=attempt.dag_id,
        task_id=attempt.task_id,
        run_id=attempt.run_id,
        try_number=ref.try_number,
        logical_date=attempt.logical_date,
        data_interval_start=start,
        data_interval_end=end,
        params=dict(attempt.params),
        code_version=attempt.code_version or None,
    )
