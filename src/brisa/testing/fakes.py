"""A clock and an executor that tests and benchmarks drive by hand.

`FakeClock` is what the system reads as "now": it moves only when told to, so retry delays,
heartbeat and execution timeouts happen when a test advances it, not when it sleeps.

`FakeExecutor` is the executor port over a process table in memory (`FakeProcesses`). A
launch puts a worker in the table; the worker does nothing until `run_pending()`, when it
calls the execution service the way `brisa task run` calls the execution API (start, then
finish with success, failure or a return value) and leaves the table, unless its script says
it hangs, never starts, or the test makes it die. A killed or crashed worker leaves the table
without reporting, as a killed process would. Several executors may share one table: a new
executor over the same table is the scheduler restarted on the same machine.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from brisa.control.execution import Worker
from brisa.core.records import AttemptRef, WorkItem
from brisa.core.states import TaskState
from brisa.errors import Conflict, Unauthorized
from brisa.executor.base import NOTHING, LaunchRequest, Observed

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """Now, as the test says: `advance()` moves it, nothing else does."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


# --- what a fake worker does once it runs ----------------------------------------------------


@dataclass(frozen=True)
class Succeed:
    """Start, then report success with this return value."""

    return_value: Any = None


@dataclass(frozen=True)
class Fail:
    """Start, then report a failure with this error."""

    error: str = "task failed"


@dataclass(frozen=True)
class Hang:
    """Start, then run until the test reports for it (`report`), kills it or makes it die."""


@dataclass(frozen=True)
class NeverStart:
    """The process lives but never reaches the API (a worker stuck in its start-up)."""


@dataclass(frozen=True)
class CrashAtStart:
    """The process ends before it reaches the API (a broken interpreter, a bad environment)."""


Outcome = Succeed | Fail | Hang | NeverStart | CrashAtStart


class WorkerCalls(Protocol):
    """What a worker asks of the control plane: `control.execution.ExecutionService`."""

    def authenticate(self, ref: AttemptRef, token: str) -> Worker: ...

    def start(self, worker: Worker, *, hostname: str, pid: int) -> WorkItem: ...

    def heartbeat(self, ref: AttemptRef) -> None: ...

    def finish(
        self, ref: AttemptRef, *, success: bool, return_value: Any = None, error: str | None = None
    ) -> TaskState: ...


# --- the process table -----------------------------------------------------------------------


@dataclass
class FakeProcess:
    """One live worker process."""

    request: LaunchRequest
    pid: int
    task_id: str | None = None  # known once it started (or from `task_of`)
    started: bool = False  # it told the API it started
    stuck: bool = False  # it never will (`NeverStart`)
    launches: int = 1  # launch requests it received (a relaunch of a live worker adds one)


@dataclass
class FakeProcesses:
    """The outside world the executor reads: which worker processes live."""

    live: dict[AttemptRef, FakeProcess] = field(default_factory=dict)
    _pids: itertools.count[int] = field(default_factory=lambda: itertools.count(10_000))

    def spawn(self, request: LaunchRequest) -> FakeProcess:
        process = FakeProcess(request, next(self._pids))
        self.live[request.ref] = process
        return process

    def exit(self, ref: AttemptRef) -> None:
        self.live.pop(ref, None)


class FakeExecutor:
    """The `Executor` port in memory; see the module docstring.

    `worker` is what fake workers call (an `ExecutionService`); `task_of` names the task of an
    attempt before its worker starts (needed only for `NeverStart` and `CrashAtStart`). Outcomes are
    scripted per task id, one per try, with `script()`; a task without one succeeds.
    """

    def __init__(
        self,
        parallelism: int = 32,
        *,
        worker: WorkerCalls | None = None,
        processes: FakeProcesses | None = None,
        task_of: Callable[[AttemptRef], str] | None = None,
    ) -> None:
        self.parallelism = parallelism
        self.worker = worker
        self.processes = processes if processes is not None else FakeProcesses()
        self.task_of = task_of
        self.kills: list[AttemptRef] = []
        self.closed = False
        self._script: defaultdict[str, deque[Outcome]] = defaultdict(deque)

    # --- the port ---------------------------------------------------------------------------
    def launch(self, request: LaunchRequest) -> None:
        process = self.processes.live.get(request.ref)
        if process is not None:
            process.launches += 1
            return
        process = self.processes.spawn(request)
        if self.task_of is not None:
            process.task_id = self.task_of(request.ref)

    def kill(self, ref: AttemptRef) -> None:
        self.kills.append(ref)
        self.processes.exit(ref)

    def alive(self) -> frozenset[AttemptRef]:
        return frozenset(self.processes.live)

    def observe(self) -> Observed:
        return NOTHING

    def release(self, ref: AttemptRef) -> None:
        pass

    def close(self) -> None:
        self.closed = True  # like the local executor: the workers are left to run

    # --- driving the workers ----------------------------------------------------------------
    def script(self, task_id: str, *outcomes: Outcome) -> None:
        """What the next tries of `task_id` do, in order (then: succeed)."""
        self._script[task_id].extend(outcomes)

    def run_pending(self) -> int:
        """Every launched worker that has not started yet starts and plays its outcome;
        returns how many reached the API."""
        played = 0
        for ref, process in list(self.processes.live.items()):
            if not process.started and not process.stuck:
                played += self._play(ref, process)
        return played

    def _play(self, ref: AttemptRef, process: FakeProcess) -> bool:
        outcome = self._next(process.task_id) if process.task_id is not None else None
        if isinstance(outcome, NeverStart):
            process.stuck = True
            return False
        if isinstance(outcome, CrashAtStart):
            self.processes.exit(ref)
            return False
        calls = self._calls()
        try:  # with the token it was launched with, as a real worker
            worker = calls.authenticate(ref, process.request.token)
            item = calls.start(worker, hostname="fake-worker", pid=process.pid)
        except (Conflict, Unauthorized):  # no longer current: a real worker exits, not running
            self.processes.exit(ref)
            return False
        process.started, process.task_id = True, item.task_id
        if outcome is None:
            outcome = self._next(item.task_id)
        if isinstance(outcome, NeverStart | CrashAtStart):
            raise ValueError(f"a {type(outcome).__name__} script needs the executor's task_of")
        if not isinstance(outcome, Hang):
            self.report(ref, outcome)
        return True

    def _next(self, task_id: str) -> Outcome:
        queue = self._script.get(task_id)
        return queue.popleft() if queue else Succeed()

    def _calls(self) -> WorkerCalls:
        if self.worker is None:
            raise RuntimeError("FakeExecutor(worker=...) is needed to run workers")
        return self.worker

    def report(self, which: AttemptRef | str, outcome: Succeed | Fail) -> None:
        """A running worker reports its outcome and exits. A report the control plane refuses
        (the attempt was cleared, marked, cancelled, timed out) is dropped, as a worker does."""
        ref = self.find(which)
        try:
            if isinstance(outcome, Succeed):
                self._calls().finish(ref, success=True, return_value=outcome.return_value)
            else:
                self._calls().finish(ref, success=False, error=outcome.error)
        except Conflict:
            pass
        finally:
            self.processes.exit(ref)

    def heartbeat(self) -> None:
        """Every started worker sends a heartbeat; one told it is no longer current stops."""
        for ref, process in list(self.processes.live.items()):
            if process.started:
                try:
                    self._calls().heartbeat(ref)
                except Conflict:
                    self.processes.exit(ref)

    def die(self, which: AttemptRef | str) -> AttemptRef:
        """The worker's process ends without reporting (killed by the OS, a crash)."""
        ref = self.find(which)
        self.processes.exit(ref)
        return ref

    def find(self, which: AttemptRef | str) -> AttemptRef:
        """The live attempt `which` names: itself, or the one worker of that task id."""
        if isinstance(which, AttemptRef):
            if which not in self.processes.live:
                raise LookupError(f"no live worker for {which}")
            return which
        refs = [r for r, p in self.processes.live.items() if p.task_id == which]
        if len(refs) != 1:
            raise LookupError(f"{len(refs)} live workers run task {which!r}, not one")
        return refs[0]
