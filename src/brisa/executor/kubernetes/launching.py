"""The pod of one launch: the attempt's ids, its container task's templates filled in, and the
manifest (`manifest.pod_manifest`, pure), marked with the task's kind; when a refused create
is sent again, and what a relaunch means when it may not be (`lost_pod`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from brisa.authoring.container import rendered
from brisa.authoring.context import TaskContext
from brisa.core.observations import Ending
from brisa.core.records import AttemptRef
from brisa.core.spec import ContainerRun
from brisa.executor.base import Attempt
from brisa.executor.kubernetes import api as kube
from brisa.executor.kubernetes.classify import KIND
from brisa.executor.kubernetes.manifest import PodConfig, pod_manifest
from brisa.executor.kubernetes.naming import AttemptPod

Json = dict[str, Any]
FIRST_RELAUNCH = 5.0  # seconds after a refused create (a quota's 403) before the next ...
MAX_RELAUNCH = 300.0  # ... doubling with each refusal in a row, up to this


def relaunch_delay(refusals: int, ref: AttemptRef) -> float:
    """Seconds before a create refused `refusals` times in a row is sent again: doubling, capped,
    spread by the attempt (±25 %, the same for one attempt) so that attempts refused by one
    quota together do not come back together."""
    delay = min(MAX_RELAUNCH, FIRST_RELAUNCH * 2.0 ** min(refusals - 1, 20))
    spread = (ref.ti_id * 7919 + ref.try_number * 104729) % 1000 / 1000
    return delay * (0.75 + spread / 2)


def create_or_adopt(api: kube.KubeApi, namespace: str, manifest: Json) -> Json | None:
    """The created pod; on a 409, the pod of that name (ours, from a launch before a
    restart); None if it keeps coming and going."""
    for _ in range(3):
        try:
            return api.create_pod(namespace, manifest)
        except kube.AlreadyExists:
            pod = api.get_pod(namespace, manifest["metadata"]["name"])
            if pod is not None:
                return pod
    return None


def lost_pod(name: str) -> Ending:
    """What a relaunch means when the executor did not see its own create of the attempt
    refused (a quota's 403, an outage): the pod may have been created already, by this
    scheduler before a restart or by another one, and be gone since (deleted behind Brisa's
    back, its vanishing seen by no executor still up). Creating it again would make a second
    pod for one try (PLATFORM K2), so the attempt ends as an infrastructure failure and its
    retry is a new try, under a new pod name (ADR 0040)."""
    return Ending(
        False,
        f"infrastructure failure (pod lost): pod {name} is not on the API server and may "
        "have been created already; a try never gets a second pod",
        infrastructure=True,
    )


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
