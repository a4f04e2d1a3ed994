"""A team's `PodConfig` from the `[kubernetes]` settings, and the pod a task would get.

`pod_config` reads the team's pod template file (once per path); `render_task_pod` is what
`brisa k8s render` prints: the effective pod of one task of a DAG, for a sample attempt, built
by the same `pod_manifest` the executor uses.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brisa.authoring.container import rendered
from brisa.authoring.context import TaskContext
from brisa.core.spec import ContainerRun, DagSpec
from brisa.errors import ConfigError, NotFound
from brisa.executor.kubernetes.manifest import PodConfig, pod_manifest
from brisa.executor.kubernetes.naming import AttemptPod
from brisa.kubesettings import KubernetesSettings, load_pod_template
from brisa.worker.env import WorkerEnv


def pod_config(settings: KubernetesSettings, team: str) -> PodConfig:
    """The pod settings of `team`'s attempts."""
    path = settings.template_file_for(team)
    try:
        template = copy.deepcopy(load_pod_template(path)) if path else {}
    except ValueError as exc:  # the file changed since the settings were loaded
        raise ConfigError(f"[kubernetes] pod_template_file: {exc}") from None
    return PodConfig(
        namespace=settings.namespace_for(team),
        worker_image=settings.worker_image,
        template=template,
        service_account=settings.service_account_for(team),
        allowed_service_accounts=settings.allowed_service_accounts(),
        image_pull_policy=settings.image_pull_policy,
        image_pull_secrets=settings.pull_secrets(),
        labels=dict(settings.labels),
        annotations=dict(settings.annotations),
        object_store_secret=settings.object_store_secret,
    )


def pod_worker_env(env: WorkerEnv, settings: KubernetesSettings) -> WorkerEnv:
    """The workers' configuration as pods need it: the API as they reach it, the log echoed
    to the container's stdout (`logs.echo`: how a dead worker's log is completed), and the
    pinned code from the object store into a folder of the pod's own (the scheduler's
    snapshots and code cache are paths on its machine, not in the pod)."""
    env = dataclasses.replace(
        env,
        logs=env.logs._replace(echo=True),
        repos_root="",
        code_cache=settings.code_cache,
    )
    if not settings.api_url_in_cluster:
        return env
    return dataclasses.replace(env, api_url=settings.api_url_in_cluster)


@dataclass(frozen=True)
class SampleAttempt:
    """The attempt `brisa k8s render` pretends to launch."""

    deployment: str
    team: str
    run_id: str
    logical_date: datetime
    params: dict[str, Any]
    ti_id: int = 0
    try_number: int = 1


def render_task_pod(
    spec: DagSpec,
    task_id: str,
    settings: KubernetesSettings,
    worker_env: WorkerEnv,
    sample: SampleAttempt,
) -> dict[str, Any]:
    """The pod `task_id` of `spec` would run in (container templates filled in)."""
    task = spec.tasks.get(task_id)
    if task is None:
        raise NotFound(f"DAG {spec.dag_id} has no task {task_id!r}")
    attempt = AttemptPod(
        sample.deployment, sample.team, spec.dag_id, sample.run_id, task_id,
        sample.ti_id, sample.try_number,
    )  # fmt: skip
    body = None
    if isinstance(task.body, ContainerRun):
        ctx = TaskContext(
            sample.team, spec.dag_id, task_id, sample.run_id, sample.try_number,
            sample.logical_date, sample.logical_date, sample.logical_date, sample.params,
        )  # fmt: skip
        body = rendered(task.body, ctx.template_vars())
    env = pod_worker_env(worker_env, settings).to_env()
    return pod_manifest(attempt, task, pod_config(settings, sample.team), env, body=body)
