"""The instruments of each kind of loop, registered in the registry of one process (never the
global default registry: tests and benchmarks build several systems in one interpreter).

Labels are bounded: action kinds, states, teams, repositories, route templates and status
classes; never a run id, a raw path or a task id."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from brisa.core.planner import Action, SetTaskState
from brisa.core.states import TaskState

# Seconds: a pass of the scheduler takes milliseconds when idle and seconds under load.
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
PARSE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Seconds from a pod's creation: under a second on a warm node, minutes for an image pull or
# a node to scale up.
POD_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
OPEN_ATTEMPT = frozenset({TaskState.QUEUED, TaskState.RUNNING})
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

Beat = Callable[[str], None]


def action_kind(action: Action) -> str:
    """`QueueTask` -> `queue_task`: the label of an action's kind."""
    return _CAMEL.sub("_", type(action).__name__).lower()


class AttemptMetrics:
    """Attempts that ended, counted by whoever recorded the end: the API for the outcome a
    worker reported, the scheduler for the attempts it judged (lost, timed out, ended as the
    executor observed). Shared by both loops of a standalone process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ended = Counter(
            "brisa_task_attempts_ended",
            "Attempts that ended, by the state they ended in and who recorded it",
            ["state", "recorded_by"],
            registry=registry,
        )

    def worker_reported(self, state: TaskState) -> None:
        self.ended.labels(state.value, "worker").inc()


class SchedulerMetrics:
    def __init__(
        self, registry: CollectorRegistry, attempts: AttemptMetrics, beat: Beat = lambda _: None
    ) -> None:
        self.attempts = attempts
        self._beat = beat
        self.duration = Histogram(
            "brisa_scheduler_pass_duration_seconds",
            "Duration of a scheduling pass (snapshot, plan, apply), failed ones included",
            buckets=PASS_BUCKETS,
            registry=registry,
        )
        self.failures = Counter(
            "brisa_scheduler_pass_failures", "Scheduling passes that failed", registry=registry
        )
        self.last_pass = Gauge(
            "brisa_scheduler_last_pass_timestamp_seconds",
            "When the last scheduling pass ended (Unix time)",
            registry=registry,
        )
        self.actions = Counter(
            "brisa_scheduler_actions",
            "Actions the planner decided and the loop carried out, by kind and whether the "
            "store changed (unchanged: a guarded update lost to a newer change, or an action "
            "on the executor only)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.slots = Gauge(
            "brisa_executor_slots", "Attempts the executor may run at once", registry=registry
        )
        self.slots_used = Gauge(
            "brisa_executor_slots_used", "Attempts the executor runs now", registry=registry
        )
        beat("scheduler")  # a first pass that never ends is a stall too

    @contextmanager
    def scheduling_pass(self) -> Iterator[Callable[..., None]]:
        """Time one pass; the caller records its actions through the function it is given."""
        started = time.perf_counter()
        try:
            yield self._record
        except Exception:
            self.failures.inc()
            raise
        finally:
            self.duration.observe(time.perf_counter() - started)
            self.last_pass.set(time.time())
            self._beat("scheduler")

    def _record(
        self, actions: Sequence[Action], changed: Sequence[bool], *, slots: tuple[int, int]
    ) -> None:
        """The pass's actions and whether each changed the store; the executor's (slots, used)."""
        for action, done in zip(actions, changed, strict=False):
            self.actions.labels(action_kind(action), "changed" if done else "unchanged").inc()
            if done and isinstance(action, SetTaskState) and action.expected in OPEN_ATTEMPT:
                self.attempts.ended.labels(action.state.value, "scheduler").inc()
        self.slots.set(slots[0])
        self.slots_used.set(slots[1])


class DagProcessorMetrics:
    def __init__(self, registry: CollectorRegistry, beat: Beat = lambda _: None) -> None:
        self._beat = beat
        self.parse = Histogram(
            "brisa_dag_processor_parse_duration_seconds",
            "Duration of parsing the new and changed files of a DAG source in one pass",
            ["source"],
            buckets=PARSE_BUCKETS,
            registry=registry,
        )
        self.files = Counter(
            "brisa_dag_processor_files_parsed",
            "DAG files parsed",
            ["source"],
            registry=registry,
        )
        self.errors = Counter(
            "brisa_dag_processor_import_errors",
            "DAG files whose parse ended in an import error",
            ["source"],
            registry=registry,
        )
        self.syncs = Counter(
            "brisa_repo_syncs",
            "Syncs of a git repository, by outcome (ok, error)",
            ["repo", "outcome"],
            registry=registry,
        )
        self.sync_duration = Histogram(
            "brisa_repo_sync_duration_seconds",
            "Duration of a sync of a git repository (fetch and publish)",
            ["repo"],
            buckets=PARSE_BUCKETS,
            registry=registry,
        )

    def beat(self, source: str) -> None:
        """The loop of DAG source `source` came round (liveness)."""
        self._beat(f"dag source {source}")

    def parsed(self, source: str, files: int, errors: int, seconds: float) -> None:
        self.parse.labels(source).observe(seconds)
        self.files.labels(source).inc(files)
        if errors:
            self.errors.labels(source).inc(errors)

    def synced(self, repo: str, ok: bool, seconds: float) -> None:
        self.syncs.labels(repo, "ok" if ok else "error").inc()
        self.sync_duration.labels(repo).observe(seconds)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Histogram(
            "brisa_api_request_duration_seconds",
            "Duration of API requests (REST, UI, execution API) by route template, method and "
            "status class; event streams are left out",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, f"{status // 100}xx").observe(seconds)


class KubernetesMetrics:
    """What the Kubernetes executor measures of its pods, by team (`PodMetrics`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pending = Histogram(
            "brisa_pods_pending_seconds",
            "Seconds from an attempt's pod creation to its placement on a node",
            ["team"],
            buckets=POD_BUCKETS,
            registry=registry,
        )
        self.start = Histogram(
            "brisa_pod_start_seconds",
            "Seconds from an attempt's pod creation to the start of its task container",
            ["team"],
            buckets=POD_BUCKETS,
            registry=registry,
        )
        self.infra = Counter(
            "brisa_infra_failures",
            "Attempts whose pod ended for an infrastructure reason (evicted, preempted, node "
            "lost, deleted by someone else, ...)",
            ["team", "reason"],
            registry=registry,
        )

    def pod_pending(self, team: str, seconds: float) -> None:
        self.pending.labels(team).observe(seconds)

    def pod_started(self, team: str, seconds: float) -> None:
        self.start.labels(team).observe(seconds)

    def infra_failure(self, team: str, reason: str) -> None:
        self.infra.labels(team, reason).inc()


class RetentionMetrics:
    """What the retention job of the store's records (`brisa.pruning`) deleted."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deleted = Counter(
            "brisa_retention_deleted_rows",
            "Rows the retention job deleted, by table (audit_log, commit_parses)",
            ["table"],
            registry=registry,
        )
        self.last_run = Gauge(
            "brisa_retention_last_run_timestamp_seconds",
            "When the retention job last ended without an error (Unix time)",
            registry=registry,
        )

    def pruned(self, table: str, rows: int) -> None:
        self.deleted.labels(table).inc(rows)

    def finished(self) -> None:
        self.last_run.set(time.time())


class Metrics:
    """The instruments of one process, made on first use, in a registry of its own."""

    def __init__(self, beat: Beat = lambda _: None) -> None:
        self.registry = CollectorRegistry()
        self._beat = beat

    @cached_property
    def attempts(self) -> AttemptMetrics:
        return AttemptMetrics(self.registry)

    @cached_property
    def scheduler(self) -> SchedulerMetrics:
        return SchedulerMetrics(self.registry, self.attempts, self._beat)

    @cached_property
    def dag_processor(self) -> DagProcessorMetrics:
        return DagProcessorMetrics(self.registry, self._beat)

    @cached_property
    def kubernetes(self) -> KubernetesMetrics:
        return KubernetesMetrics(self.registry)

    @cached_property
    def api(self) -> ApiMetrics:
        return ApiMetrics(self.registry)

    @cached_property
    def retention(self) -> RetentionMetrics:
        return RetentionMetrics(self.registry)


def unregistered() -> Metrics:
    """Instruments in a registry no one scrapes: for loops built without a process's (tests,
    benchmarks)."""
    return Metrics()
