"""The Kubernetes executor as the settings describe it: its client (`[kubernetes]` API
access) and its `KubeConfig`, for the composition root (`brisa.system`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable

from sqlalchemy.engine import url as sa_url

from brisa.executor.kubernetes import api as kube
from brisa.executor.kubernetes.executor import KubeConfig, KubernetesExecutor
from brisa.executor.kubernetes.podconfig import pod_config, pod_worker_env
from brisa.executor.kubernetes.podtimes import PodMetrics
from brisa.logs.config import ShippingConfig
from brisa.settings import Settings
from brisa.worker.env import WorkerEnv


def client(settings: Settings) -> kube.KubeApi:
    """The API client `[kubernetes]` describes (lightkube is imported now)."""
    k = settings.kubernetes
    access = kube.ApiAccess(
        server=k.server or None,
        token_file=k.token_file or None,
        ca_file=k.ca_file or None,
        kubeconfig=k.kubeconfig or None,
        context=k.context or None,
    )
    api = kube.connect(access)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per request
    return api


def deployment_of(settings: Settings) -> str:
    """The deployment label of this deployment's pods: `[kubernetes] deployment`, else a hash
    of the database URL without its password, so that every scheduler sharing the database
    (each with a home of its own) sees, adopts and collects the same pods (ADR 0028)."""
    if settings.kubernetes.deployment:
        return settings.kubernetes.deployment
    url = sa_url.make_url(settings.database_url)._replace(password=None)
    key = url.render_as_string(hide_password=False)
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def executor(
    settings: Settings,
    api: kube.KubeApi,
    *,
    scope: str,
    teams: Iterable[str],
    worker: WorkerEnv,
    logs: ShippingConfig,
    on_change: Callable[[], None],
    metrics: PodMetrics | None = None,
) -> KubernetesExecutor:
    """The executor, started (its namespaces checked and listed): the namespaces of `teams`
    (those owning DAGs now), of the DAG sources' owners and of the per-team tables are
    watched from the start, so that a restart adopts their pods."""
    s, k = settings, settings.kubernetes
    teams = {*teams, *(source.owner for source in s.sources()), *k.team_namespaces}
    config = KubeConfig(
        deployment=deployment_of(s),
        pod_config=lambda team: pod_config(k, team),
        namespaces=tuple(sorted({k.namespace_for(team) for team in teams})),
        worker_env=pod_worker_env(worker, k).to_env(),
        parallelism=s.executor.parallelism,
        pending_timeout=k.pending_timeout,
        team_pending_timeouts={t: k.pending_timeout_for(t) for t in k.team_pending_timeouts},
        delete_pods=k.delete_policy,
        keep_failed_for=k.keep_failed_for,
        orphan_grace=k.orphan_grace,
        kill_grace=int(s.executor.kill_grace),
        scope=scope,
        logs=logs,
        spool_folder=s.spool_folder,
    )
    return KubernetesExecutor(api, config, on_change=on_change, metrics=metrics).start()
