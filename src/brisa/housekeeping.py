"""Housekeeping: the periodic jobs of a process, kept out of the scheduler's and executor's
loops.

The composition root registers the jobs of the processes that run workers (`standalone`,
`scheduler`): log retention, hourly; the spool sweep that finishes dead workers' logs, every
30 s; and the sweep of a gone worker's spool alone, woken at once when the executor finds it
gone (`wake`). Each job has a timer
and a thread of its own, so a long prune of a large store never holds up a dead worker's log,
and a job never runs twice at once. A job that fails is logged and runs again at its next
time; nothing a job raises stops the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("brisa.housekeeping")

Work = Callable[[], object]


class Timer:
    """When a job is due, in seconds of a monotonic clock; no I/O.

    A job is first due `first_after` seconds after the timer is made, then `every` seconds
    after each run started; a run that took longer than `every` is followed at once.
    """

    def __init__(self, every: float, first_after: float, now: float) -> None:
        self.every = every
        self.next_at = now + first_after

    def wait(self, now: float) -> float:
        """Seconds until the job is due (0 when it is)."""
        return max(0.0, self.next_at - now)

    def started(self, now: float) -> None:
        self.next_at = now + self.every


@dataclass
class Job:
    name: str
    work: Work
    timer: Timer
    woken: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class Housekeeping:
    """Runs registered jobs on their timers until `close`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._stop = threading.Event()
        self._started = False

    @property
    def jobs(self) -> dict[str, Job]:
        """The registered jobs, by name."""
        return dict(self._jobs)

    def add(self, name: str, work: Work, *, every: float, first_after: float = 0.0) -> None:
        """Run `work` every `every` seconds, the first time `first_after` seconds from now."""
        if self._started:
            raise RuntimeError("housekeeping jobs are added before it starts")
        if name in self._jobs:
            raise ValueError(f"housekeeping job {name!r} is already registered")
        self._jobs[name] = Job(name, work, Timer(every, first_after, self._clock()))

    def wake(self, name: str) -> None:
        """Run job `name` now (or right after the run in progress); unknown names are ignored,
        so a caller need not know which jobs this process has."""
        job = self._jobs.get(name)
        if job is not None:
            job.woken.set()

    def start(self) -> Housekeeping:
        if not self._started:
            self._started = True
            for job in self._jobs.values():
                job.thread = threading.Thread(
                    target=self._loop, args=(job,), name=f"housekeeping-{job.name}", daemon=True
                )
                job.thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop every job's timer; a run in progress is waited for up to `timeout` seconds in
        all (its thread is a daemon: it never holds up the process's exit)."""
        self._stop.set()
        for job in self._jobs.values():
            job.woken.set()
        deadline = time.monotonic() + timeout
        for job in self._jobs.values():
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self, job: Job) -> None:
        while not self._stop.is_set():
            woken = job.woken.wait(job.timer.wait(self._clock()))
            if self._stop.is_set():
                return
            if not woken and job.timer.wait(self._clock()) > 0:
                continue  # the wait ended a little early
            job.woken.clear()
            job.timer.started(self._clock())
            run(job)


def run(job: Job) -> bool:
    """One run of `job`; False (and the error logged) when it raised."""
    try:
        job.work()
    except Exception:
        log.exception(
            "housekeeping job %r failed; it runs again in %.0fs", job.name, job.timer.every
        )
        return False
    return True
