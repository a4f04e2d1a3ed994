"""The local executor: one OS process (and process group) per attempt, on this machine.

Workers are started by a launcher (a fork server by default, see `launchers.py`) and
recorded in a pid-file registry (`registry.py`). Which attempts are alive is always read
from the process table, never from memory alone, so a restarted scheduler adopts the
workers that kept running instead of starting them twice.

When an attempt's worker exits (or is killed), whatever is left in its process group — a
shell command's children, a daemon it started — is killed too, and `on_worker_gone` is told,
so that housekeeping's spool sweep finishes the worker's log from its spool file at once if
the worker could not (`logs/recovery.py`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

from brisa.core.records import AttemptRef
from brisa.executor.base import NOTHING, LaunchRequest, Observed
from brisa.executor.local.launchers import Launcher, launcher, without_settings
from brisa.executor.local.pidwatch import PidWatch
from brisa.worker import runas
from brisa.worker.containment import kill_descendants
from brisa.worker.env import WorkerEnv
from brisa.worker.registry import WorkerRegistry, process_start_time

MAX_LAUNCHES = 3


class LocalExecutor:
    def __init__(
        self,
        *,
        scope: str,
        parallelism: int,
        state_dir: Path,
        worker: WorkerEnv | None = None,
        kill_grace: float = 5.0,
        start_method: str = "forkserver",
        launch: Launcher | None = None,
        on_worker_gone: Callable[[AttemptRef, int], None] = lambda ref, pid: None,
        run_as_user: str = "",
        private_env: Collection[str] = (),
        warm: tuple[int, float] | None = None,
    ) -> None:
        self.scope = scope
        self.parallelism = parallelism
        if run_as_user:
            runas.check(run_as_user)  # at start-up: refused here, not in every attempt's log
        # What every worker is handed (the executor adds each one's token and the registry).
        self.worker = replace(worker or WorkerEnv(), run_as_user=run_as_user)
        self.kill_grace = kill_grace
        self.registry = WorkerRegistry(state_dir)
        # Variables of this process that hold the server's credentials: never a worker's.
        self.private_env = frozenset(private_env)
        # Warm imports (limit, idle seconds; ADR 0014): never with run_as_user, where the
        # DAG file's import must run as the task user, in the attempt.
        self.warm = None if run_as_user else warm
        self.launcher = launch or launcher(start_method, self.private_env, self.warm)
        # What every launch hands its worker, made once: this process's environment without
        # the server's settings and credentials, and the wire format's variables. The
        # environment is read when the executor is made, as the settings are (a variable set
        # later in this process reaches no worker, as it reaches no fork server already).
        wire = replace(self.worker, registry=str(self.registry.folder))
        self._env = {**without_settings(os.environ, self.private_env), **wire.to_env()}
        self._live: dict[AttemptRef, tuple[int, int | None]] = {}
        self._watch = PidWatch()  # exits told by pidfds; /proc read for the others
        self._registry_mtime = 0
        self._launches: Counter[AttemptRef] = Counter()
        self._lock = threading.Lock()
        self.on_worker_gone = on_worker_gone

    def launch(self, request: LaunchRequest) -> None:
        with self._lock:
            if self._running_locked(request.ref):
                return
            if self._launches[request.ref] >= MAX_LAUNCHES:
                # A worker that keeps dying before it starts: stop relaunching; the scheduler
                # fails the attempt after [scheduler] queued_timeout. Its log says why.
                return
            if len(self._launches) > 100_000:  # bounded memory over a long life
                self._launches.clear()
            self._launches[request.ref] += 1
            request.log_path.parent.mkdir(parents=True, exist_ok=True)
            argv = ["--ti", str(request.ref.ti_id), "--try", str(request.ref.try_number),
                    "--scope", self.scope]  # fmt: skip
            env = self._env
            if self.warm and request.warm is not None:
                pid = self.launcher.start(argv, env, request.log_path, request.token, request.warm)
            else:
                pid = self.launcher.start(argv, env, request.log_path, request.token)
            self._watch.watch(request.ref, pid)  # before the start time: that process's
            started = process_start_time(pid)
            self._live[request.ref] = (pid, started)
            self.registry.record(request.ref, pid, started)

    def _running_locked(self, ref: AttemptRef) -> bool:
        """Whether a worker of `ref` runs: the one this executor knows, or one the registry
        holds (started before a restart). Reads the process table for `ref` alone, not for
        every live worker: a launch costs the same however many run (`alive` tidies up)."""
        known = self._live.get(ref)
        if known is not None:
            pid, started = known
            now = process_start_time(pid)
            if now is not None and (started is None or now == started):
                return True
            self._gone_locked(ref, pid)
        recorded = self.registry.running(ref)
        if recorded is None:
            return False
        self._watch.watch(ref, recorded)
        self._live[ref] = (recorded, process_start_time(recorded))
        return True

    def _adopt_locked(self) -> None:
        """Workers recorded in the registry that this executor does not know (started before
        a restart, or by an executor killed before it recorded them): watched from now on."""
        mtime = self.registry.changed_since(self._registry_mtime)
        if mtime is None:
            return
        self._registry_mtime = mtime
        for ref, pid in self.registry.live(skip=self._live).items():
            self._watch.watch(ref, pid)
            self._live[ref] = (pid, process_start_time(pid))

    def _live_locked(self) -> dict[AttemptRef, int]:
        """The workers alive: those watched by pidfd and not exited (one `poll` for all),
        the others by their process's start time in /proc."""
        self._adopt_locked()
        exited = self._watch.exited()
        live: dict[AttemptRef, int] = {}
        for ref, (pid, started) in list(self._live.items()):
            if self._watch.watching(ref):
                running = ref not in exited and started is not None
            else:
                now = process_start_time(pid)
                running = now is not None and (started is None or now == started)
            if running:
                live[ref] = pid
            else:
                self._gone_locked(ref, pid)
        return live

    def _gone_locked(self, ref: AttemptRef, pid: int) -> None:
        """The worker of `ref` exited: forget it, and clean up after it."""
        del self._live[ref]
        self._watch.forget(ref)
        self.registry.forget(ref)
        _signal_group(pid, signal.SIGKILL)  # whatever the attempt left behind
        self.on_worker_gone(ref, pid)  # and the log its log process could not finish

    def alive(self) -> frozenset[AttemptRef]:
        with self._lock:
            return frozenset(self._live_locked())

    def observe(self) -> Observed:
        return NOTHING  # a process table says no more than alive or not

    def release(self, ref: AttemptRef) -> None:
        pass  # nothing is kept once a worker is gone

    def kill(self, ref: AttemptRef) -> None:
        with self._lock:
            pid = self._live_locked().get(ref)
            started = self._live[ref][1] if pid is not None else None
        if pid is None:
            return
        _signal_group(pid, signal.SIGTERM)
        timer = threading.Timer(self.kill_grace, _kill_for_good, args=(pid, started))
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        close = getattr(self.launcher, "close", None)
        if close is not None:
            close()
        with self._lock:
            self._live.clear()
            self._watch.close()


def _kill_for_good(pid: int, started: int | None) -> None:
    """SIGKILL the worker's process group and, while the worker still runs, what left the group
    (the worker is its subreaper: see worker.containment)."""
    if started is not None and process_start_time(pid) == started:
        kill_descendants(pid)
    _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The worker leads its own session: signalling the group reaches its children too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
