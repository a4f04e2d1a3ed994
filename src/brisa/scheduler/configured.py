"""A scheduler as the settings describe it: its limits, its leases, what its executor sees."""

from __future__ import annotations

from collections.abc import Callable

from brisa.core.planner import Limits
from brisa.core.records import RunRecord
from brisa.core.spec import DagSpec
from brisa.executor.base import Executor
from brisa.metrics.instruments import SchedulerMetrics
from brisa.scheduler.ha import LeaseKeeper
from brisa.scheduler.loop import Clock, Scheduler, awake_seconds
from brisa.scheduler.namespaces import NamespaceLeases
from brisa.settings import Settings
from brisa.store import Store
from brisa.worker.warmed import WarmKey


def scheduler(
    settings: Settings,
    store: Store,
    executor: Executor,
    *,
    clock: Clock,
    warm_key: Callable[[RunRecord, DagSpec], WarmKey | None] | None,
    metrics: SchedulerMetrics | None = None,
) -> Scheduler:
    s = settings
    limits = Limits(
        heartbeat_timeout=s.scheduler.heartbeat_timeout,
        queued_timeout=s.scheduler.queued_timeout,
        max_runs_created=s.scheduler.max_runs_created_per_loop,
        free_infra_retries=s.kubernetes.infra_retries,  # endings only Kubernetes observes
        max_return_bytes=s.core.max_return_value_bytes,
    )
    on_kubernetes = s.executor.kind == "kubernetes"
    keeper = LeaseKeeper(store, ttl=s.scheduler.lease_ttl, awake=awake_seconds)
    if on_kubernetes:
        _share_namespaces(executor, keeper)
    return Scheduler(
        store,
        executor,
        clock=clock,
        logs_folder=s.spool_folder,
        limits=limits,
        poll_interval=s.scheduler.poll_interval,
        queue_batch=s.scheduler.queue_batch,
        warm_key=warm_key,
        describe_attempts=on_kubernetes,
        keeper=keeper,
        metrics=metrics,
        mask_env_pattern=s.logs.mask_env_pattern,
        sees_every_host=on_kubernetes,  # pods, wherever they run; local workers: this host's
    )


def _share_namespaces(executor: Executor, keeper: LeaseKeeper) -> None:
    """Several schedulers under the Kubernetes executor (ADR 0028): each executor looks after
    the namespaces whose lease its scheduler holds, renewed with the scheduler's own."""
    from brisa.executor.kubernetes.executor import KubernetesExecutor

    if not isinstance(executor, KubernetesExecutor):
        return  # a fake executor (tests, benchmarks)
    keeper.namespaces = NamespaceLeases(
        keeper.store, keeper.identity, ttl=keeper.timing.ttl, awake=keeper.awake,
        namespaces=executor.namespaces, fence=keeper.fence,
    )  # fmt: skip
    executor.share(keeper.namespaces)
