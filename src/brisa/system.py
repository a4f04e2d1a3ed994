"""The composition root: builds the store, executor, scheduler, housekeeping, DAG processor
and API from one Settings object. Every process (`standalone`, `api`, `scheduler`,
`dag-processor`) starts here; nothing else reads configuration."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brisa.logs.config import ShippingConfig
from brisa.settings import Settings, ensure_secret_key
from brisa.worker.env import WorkerEnv

if TYPE_CHECKING:  # heavy imports (the web framework, the ORM) are made when first used
    from fastapi import FastAPI

    from brisa.control.changefeed import ChangeFeed
    from brisa.core.records import AttemptRef, RunRecord
    from brisa.core.spec import DagSpec
    from brisa.dagprocessor.pipeline import RepoPipeline
    from brisa.dagprocessor.processor import DagProcessor
    from brisa.executor.base import Executor
    from brisa.housekeeping import Housekeeping
    from brisa.logs.recovery import SpoolSweeper
    from brisa.logs.retention import Retention
    from brisa.metrics.monitor import Monitor
    from brisa.objectstore import ObjectStore
    from brisa.repos.config import RepoSettings
    from brisa.scheduler import Scheduler
    from brisa.store import Store
    from brisa.worker.warmed import WarmKey

log = logging.getLogger("brisa")

LOG_RETENTION = "log retention"
RECORD_RETENTION = "record retention"
SPOOL_SWEEP = "spool sweep"
GONE_WORKER_SPOOLS = "gone workers' spools"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class System:
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    _store: Store | None = None
    _reads: Store | None = None
    _scheduler: Scheduler | None = None
    _objects: ObjectStore | None = None
    _housekeeping: Housekeeping | None = None
    _spools: SpoolSweeper | None = None
    _pipelines: dict[str, RepoPipeline] = field(default_factory=dict)
    _feed: ChangeFeed | None = None
    _monitor: Monitor | None = None

    @classmethod
    def create(cls, settings: Settings, clock: Callable[[], datetime] = utc_now) -> System:
        settings = ensure_secret_key(settings)
        settings.home.mkdir(parents=True, exist_ok=True)
        return cls(settings=settings, clock=clock)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self._open_store(migrate=True)
        return self._store

    def _open_store(self, **options: Any) -> Store:
        from brisa.store import open_store

        s = self.settings
        size, slots = s.database.pool_size, s.pools.default_slots
        return open_store(s.database_url, pool_size=size, default_pool_slots=slots, **options)

    @property
    def reads(self) -> Store:
        """The store the API's reads for people (UI and REST) go through: its own connection
        pool, and statements cut at `[ui] statement_timeout`, so a heavy page can neither take
        the connections nor the time the scheduler and the workers' calls need."""
        if self._reads is None:
            self.store  # noqa: B018 - migrated first
            timeout = self.settings.ui.statement_timeout or None
            self._reads = self._open_store(statement_timeout=timeout)
        return self._reads

    @property
    def monitor(self) -> Monitor:
        """This process's metrics and health checks (docs/operations.md, "Metrics")."""
        if self._monitor is None:
            from brisa.metrics.monitor import Monitor

            stall = self.settings.metrics.stall_timeout
            self._monitor = Monitor(lambda: self.store, stall_timeout=stall)
        return self._monitor

    @property
    def dags_folder(self) -> Path | None:
        return Path(self.settings.dags.folder).absolute() if self.settings.dags.folder else None

    @property
    def code_cache(self) -> Path:
        """Where this machine's workers materialise commits they find in no local snapshot."""
        return self.settings.home / "code"

    def executor_scope(self) -> str:
        key = f"{self.settings.home}|{self.settings.database_url}"
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    def worker_env(self) -> WorkerEnv:
        """The configuration workers need, handed to them explicitly by the executor (which
        adds each attempt's token): the one place the settings become the wire format."""
        s = self.settings
        return WorkerEnv(
            api_url=s.api_url,
            dags_folder=str(self.dags_folder or ""),
            heartbeat_interval=s.worker.heartbeat_interval,
            report_timeout=s.worker.report_timeout,
            logs=self._log_shipping(),
            repos_root=str(s.repos_root),
            code_cache=str(self.code_cache),
            code_timeout=s.worker.code_timeout,
            max_return_value_bytes=s.core.max_return_value_bytes,
        )

    def _log_shipping(self) -> ShippingConfig:
        s = self.settings
        return ShippingConfig(
            location=s.logs_location,
            chunk_interval=s.logs.chunk_interval,
            chunk_bytes=s.logs.chunk_bytes,
            mask_env_pattern=s.logs.mask_env_pattern,
            store_options=s.object_store_options(),
        )

    @property
    def objects(self) -> ObjectStore:
        """The object store for logs and code snapshots."""
        if self._objects is None:
            from brisa.objectstore import open_object_store

            self._objects = open_object_store(
                self.settings.logs_location, self.settings.object_store_options()
            )
        return self._objects

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            self._scheduler = self.build_scheduler(self.executor())
        return self._scheduler

    def executor(self) -> Executor:
        """The executor `[executor] kind` names, started (Kubernetes: imported only then)."""
        if self.settings.executor.kind != "kubernetes":
            return self.local_executor()
        from brisa.executor.kubernetes import configured

        return configured.executor(
            self.settings, configured.client(self.settings), scope=self.executor_scope(),
            teams={d.team for d in self.store.list_dags()}, worker=self.worker_env(),
            logs=self._log_shipping(), on_change=self.wake_scheduler,
            metrics=self.monitor.metrics.kubernetes,
        )  # fmt: skip

    def local_executor(self) -> Executor:
        """The local executor: a process per attempt on this machine."""
        from brisa.executor.local.executor import LocalExecutor

        self.isolate_tasks()
        s = self.settings
        self.monitor.watch_spools(s.spool_folder)
        return LocalExecutor(
            scope=self.executor_scope(),
            parallelism=s.executor.parallelism,
            worker=self.worker_env(),
            state_dir=s.home / "workers",
            start_method=s.executor.start_method,
            kill_grace=s.executor.kill_grace,
            on_worker_gone=self._worker_gone,
            run_as_user=s.executor.run_as_user,
            private_env={r.password_env for r in s.repos if r.password_env},
            warm=self._warm_imports(),
        )

    def _warm_imports(self) -> tuple[int, float] | None:
        """`[executor] warm_imports` as the executor takes it: (limit, idle), or None."""
        e = self.settings.executor
        if not e.warm_imports or e.run_as_user or e.start_method != "forkserver":
            return None
        return e.warm_processes, e.warm_idle

    def warm_key(self, run: RunRecord, spec: DagSpec) -> WarmKey | None:
        """What an attempt of `run` will run, as the execution API will tell its worker (its
        team, file, and pinned code or none: the DAG folder): the key of its warm process.
        None without warm imports."""
        from brisa.control.execution import code_ref
        from brisa.worker.warmed import WarmKey

        if self._warm_imports() is None:
            return None
        code = code_ref(run.repo, run.code_version, self.settings.source(run.repo))
        return WarmKey(run.team, spec.fileloc, code)

    def build_scheduler(self, executor: Executor) -> Scheduler:
        """A scheduler over this system's store, handing attempts to `executor` (tests and
        benchmarks pass a fake one); it becomes the system's scheduler."""
        from brisa.scheduler import configured

        warm_key = self.warm_key if self._warm_imports() else None
        self._scheduler = configured.scheduler(
            self.settings,
            self.store,
            executor,
            clock=self.clock,
            warm_key=warm_key,
            metrics=self.monitor.metrics.scheduler,
        )
        return self._scheduler

    def isolate_tasks(self) -> None:
        """With `[executor] run_as_user`: refuse now when tasks cannot run as that user, and
        keep Brisa's state in $BRISA_HOME from them (ADR 0008). Called at the start of the
        processes that run workers, before anything else starts."""
        if self.settings.executor.run_as_user:
            from brisa.executor.local import isolation
            from brisa.worker import runas

            runas.check(self.settings.executor.run_as_user)
            self.store  # noqa: B018 - its SQLite file exists before its mode is set
            isolation.make_private(self.settings.home)

    def retention(self) -> Retention | None:
        """Pruning of old logs, when `[logs] retention` is set."""
        if self.settings.logs.retention <= 0:
            return None
        from brisa.logs.retention import Retention

        keep = timedelta(seconds=self.settings.logs.retention)
        return Retention(self.objects, keep, clock=self.clock)

    @property
    def housekeeping(self) -> Housekeeping:
        """The periodic jobs of a process that runs workers: log and record retention, when
        set, and the sweep of dead workers' spools, when workers ship their logs to a store."""
        if self._housekeeping is None:
            from brisa import pruning
            from brisa.housekeeping import Housekeeping
            from brisa.logs import recovery, retention
            from brisa.worker.registry import process_group_alive

            jobs = Housekeeping()
            logs = self.retention()
            if logs is not None:
                jobs.add(LOG_RETENTION, logs.run, every=retention.EVERY.total_seconds(),
                         first_after=retention.FIRST_AFTER.total_seconds())  # fmt: skip
            kept, metrics = self.settings.retention, self.monitor.metrics.retention
            records = pruning.configured(kept, lambda: self.store, self.clock, metrics)
            if records is not None:
                jobs.add(RECORD_RETENTION, records.run, every=kept.interval,
                         first_after=pruning.FIRST_AFTER.total_seconds())  # fmt: skip
            self._spools = recovery.sweeper_for_workers(
                self.settings.spool_folder,
                self.worker_env().logs,
                process_group_alive,
                self._live_attempts,
            )
            if self._spools is not None:
                every = recovery.SWEEP_INTERVAL
                jobs.add(SPOOL_SWEEP, self._spools.sweep, every=every)
                # Woken by each worker's exit; its timer only retries a wake missed meanwhile.
                jobs.add(GONE_WORKER_SPOOLS, self._spools.sweep_gone, every=every)
            self._housekeeping = jobs
        return self._housekeeping

    def _live_attempts(self) -> set[tuple[int, int]]:
        """The (task instance, try) of the workers that live on this machine."""
        from brisa.worker.registry import WorkerRegistry

        live = WorkerRegistry(self.settings.home / "workers").live()
        return {(ref.ti_id, ref.try_number) for ref in live}

    def _worker_gone(self, ref: AttemptRef, pid: int) -> None:
        """The executor found worker `pid` of `ref` dead: sweep its spool now (its own only).
        Called under the executor's lock, so it only takes note and wakes the job."""
        jobs = self.housekeeping
        if self._spools is not None:
            self._spools.worker_gone(pid, (ref.ti_id, ref.try_number))
            jobs.wake(GONE_WORKER_SPOOLS)

    def wake_scheduler(self) -> None:
        if self._scheduler is not None:
            self._scheduler.wake()

    def processor(self, source: RepoSettings) -> DagProcessor:
        """The DAG processor of one source (a folder or a repository's snapshots)."""
        from brisa.dagprocessor.processor import DagProcessor

        # A folder's DAG files are in its subdir, as workers find them; a repository's
        # snapshots are given to the processor one by one by its pipeline.
        root = (
            source.dag_root(Path(source.path).absolute())
            if source.path
            else self.settings.repos_root / source.name
        )
        return DagProcessor(
            self.store,
            root,
            team=source.owner,
            repo=source.name,
            clock=self.clock,
            parse_timeout=self.settings.dags.parse_timeout,
            on_change=self.wake_scheduler,
            metrics=self.monitor.metrics.dag_processor,
        )

    def pipeline(self, repo: RepoSettings) -> RepoPipeline:
        """The sync → parse loop of one git repository."""
        from brisa.dagprocessor.pipeline import RepoPipeline
        from brisa.repos.sync import RepoSyncer

        syncer = RepoSyncer(
            repo, self.settings.repos_root, objects=self.objects, environ=dict(os.environ)
        )
        return RepoPipeline(
            repo, syncer, self.processor(repo), self.store, clock=self.clock,
            code_cache=self.code_cache,
        )  # fmt: skip

    def request_sync(self, name: str) -> None:
        """Sync repository `name` now: at once in this process, else through the store."""
        source = self.settings.source(name)
        if source is None or not source.is_git:
            from brisa.errors import NotFound

            raise NotFound(f"no git repository {name!r} is configured; `brisa repos list` lists")
        pipeline = self._pipelines.get(name)
        if pipeline is not None:
            pipeline.request()
        else:
            self.store.request_sync(name, self.clock())

    def api_app(self) -> FastAPI:
        from brisa.control.attempts import Attempts
        from brisa.control.changefeed import ChangeFeed
        from brisa.control.code import CodeSnapshots
        from brisa.control.commands import Commands
        from brisa.control.execution import ExecutionService
        from brisa.control.livetopics import LiveTopics
        from brisa.control.queries import Queries
        from brisa.control.summary import Summary
        from brisa.executor.inspection import pod_identity, pod_inspector
        from brisa.web.api.app import ApiContext
        from brisa.web.app import create_app

        sources, pattern = self.settings.sources(), self.settings.logs.mask_env_pattern
        pods = pod_inspector(self.settings)  # a queued attempt's pod (Kubernetes executor)
        execution = ExecutionService(
            self.store,
            self.clock,
            max_return_bytes=self.settings.core.max_return_value_bytes,
            on_change=self.wake_scheduler,
            sources={source.name: source for source in sources},
            on_finished=self.monitor.metrics.attempts.worker_reported,
            pods=pod_identity(self.settings),  # worker pods prove who they are (ADR 0029)
        )
        self.monitor.watch_api(lambda: self.reads, self.clock, lambda: self.objects.location)
        feed = ChangeFeed(self.reads)
        queries = Queries(
            self.reads, self.objects, self.clock, sources=sources, mask_env_pattern=pattern
        )
        ctx = ApiContext(
            settings=self.settings,
            queries=queries,
            commands=Commands(
                self.store,
                self.clock,
                wake=self.wake_scheduler,
                sources=sources,
                request_sync=self.request_sync,
                mask_env_pattern=pattern,
            ),
            execution=execution,
            attempts=Attempts(
                queries, self.reads, self.objects, self.clock, mask_env_pattern=pattern, pods=pods
            ),
            code=CodeSnapshots(
                queries,
                self.reads,
                self.objects,
                sources=sources,
                repos_root=self.settings.repos_root,
            ),
            feed=feed,
            topics=LiveTopics(self.reads, self.objects, self.clock, sources=sources),
            summary=Summary(self.reads, self.clock),
            monitor=self.monitor,
        )
        if self._feed is not None:
            self._feed.close()
        self._feed = feed
        feed.start()
        return create_app(ctx)

    def start_thread(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=(self.stop, *args), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start_processor(self) -> bool:
        """Start a thread per DAG source; False when there is none."""
        sources = self.settings.sources()
        for source in sources:
            if source.is_git:
                pipeline = self._pipelines[source.name] = self.pipeline(source)
                self.start_thread(f"repo-{source.name}", pipeline.run_forever)
            else:
                processor = self.processor(source)
                self.start_thread(
                    f"dags-{source.name}", processor.run_forever, self.settings.dags.scan_interval
                )
        return bool(sources)

    def claim_scheduling(self) -> None:
        """Take the scheduler's leases before anything starts: on SQLite, a second scheduler
        is refused here (`AnotherScheduler`, a sentence and exit code 2)."""
        if self.scheduler.keeper is not None:
            self.scheduler.keeper.start()

    def _scheduling(self) -> None:
        """What runs beside a scheduler loop: its lease renewals and the housekeeping jobs."""
        self.claim_scheduling()
        self.housekeeping.start()
        if self.scheduler.keeper is not None:
            self.monitor.add_readiness(self.scheduler.keeper.readiness)
            self.start_thread("scheduler-lease", self.scheduler.keeper.run_forever)
        self.start_thread("scheduler-wake", self.scheduler.follow_changes)

    def start_scheduler(self) -> None:
        """The scheduler loop in a thread of its own (standalone)."""
        self._scheduling()
        self.start_thread("scheduler", self.scheduler.run_forever)

    def run_scheduler(self) -> None:
        """The scheduler loop in this thread until `stop` (`brisa scheduler`)."""
        self._scheduling()
        self.scheduler.run_forever(self.stop)

    def serve_api(self, on_started: Callable[[], None] = lambda: None) -> None:
        """Serve the API in this thread until interrupted, then stop everything.

        `on_started` runs once the API accepts connections: in standalone that is when the
        scheduler starts, so that workers adopted after a restart can reach the API before
        the scheduler judges their heartbeats.
        """
        from brisa.web.server import serve

        app, feed = self.api_app(), self._feed
        try:
            serve(
                app,
                host=self.settings.api.host,
                port=self.settings.api.port,
                on_started=on_started,
                on_exit=feed.close if feed is not None else lambda: None,
                start_thread=self.start_thread,
            )
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.stop.set()
        if self._monitor is not None:
            self._monitor.close()
        if self._feed is not None:
            self._feed.close()
        self.wake_scheduler()
        for thread in self.threads:
            thread.join(timeout=5)
        if self._housekeeping is not None:
            self._housekeeping.close()
        if self._scheduler is not None:
            self._scheduler.executor.close()  # running workers are left to finish
            if self._scheduler.keeper is not None:
                self._scheduler.keeper.close()  # another scheduler adopts them at once
        if self._store is not None:
            self._store.close()
        if self._reads is not None:
            self._reads.close()
