"""The attempt's heartbeat thread: started when its first beat is due, by the log capture's
thread when there is one (ADR 0042), else at the attempt's start; never before the start is
recorded, and never after the worker is done."""

from __future__ import annotations

import threading
import time
from typing import Any

from brisa.worker.heartbeat import NO_MORE_TICKS, Heartbeat


class _Client:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.called = threading.Event()

    def call(self, verb: str, body: dict[str, Any], patience: float) -> dict[str, Any]:
        self.calls.append(verb)
        self.called.set()
        return {}


def _beating(interval: float = 0.05) -> tuple[Heartbeat, _Client]:
    return Heartbeat(interval, lambda line: None), _Client()


def test_without_ticks_the_thread_starts_with_the_attempt_and_beats_after_the_interval() -> None:
    beat, client = _beating()
    started = time.monotonic()
    beat.started(client, started)  # type: ignore[arg-type]
    assert client.called.wait(5.0)
    assert time.monotonic() - started >= 0.05
    assert client.calls[0] == "heartbeat"
    beat.stop.set()


def test_a_ticking_thread_starts_it_when_the_first_beat_is_due_and_not_before() -> None:
    beat, client = _beating(interval=5.0)
    assert beat.tick(100.0) == 105.0  # not started yet: look again one interval later
    beat.started(client, 103.0)  # type: ignore[arg-type]
    assert not client.called.wait(0.1)  # the ticking thread will start it: no thread yet
    assert beat.tick(105.0) == 108.0  # due one interval after the start
    assert not client.called.is_set()
    assert beat.tick(108.0) is None  # due: the thread beats at once
    assert client.called.wait(5.0)
    assert beat.tick(113.0) is None  # running: no more ticks wanted
    beat.stop.set()


def test_when_the_ticking_thread_stops_the_heartbeat_does_not_depend_on_it() -> None:
    beat, client = _beating()
    assert beat.tick(0.0) is not None
    assert beat.tick(NO_MORE_TICKS) is None  # e.g. the log server is gone before the start
    beat.started(client, time.monotonic())  # type: ignore[arg-type]
    assert client.called.wait(5.0)  # started by the attempt itself
    beat.stop.set()

    beat, client = _beating(interval=60.0)
    assert beat.tick(0.0) is not None
    beat.started(client, 1.0)  # type: ignore[arg-type]
    assert beat.tick(NO_MORE_TICKS) is None  # stopping after the start: the thread starts now
    assert client.called.wait(5.0)
    beat.stop.set()


def test_a_worker_that_is_done_starts_no_heartbeat() -> None:
    beat, client = _beating(interval=5.0)
    assert beat.tick(0.0) == 5.0
    beat.started(client, 1.0)  # type: ignore[arg-type]
    beat.stop.set()
    assert beat.tick(6.0) is None
    assert beat.tick(NO_MORE_TICKS) is None
    assert not client.called.wait(0.1)
