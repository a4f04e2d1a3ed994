"""One page's Server-Sent-Events stream (UI.md A.1-3): invalidations of its topics, coalesced,
log lines of the attempt it follows, heartbeats, and a clean end when the server stops.

The stream is asynchronous and holds no thread while it waits: the process's change feed
hands changes over from its reader thread (`loop.call_soon_threadsafe`); a log follower's
reads run in the UI's worker-thread lane, one poll at a time.

Events:
- `<live_event(topic)>` — data `{"topic": …, "version": <change id>}`: re-fetch what shows it;
- `resync` — the gap since the browser's last event is too old to replay: re-fetch everything;
- `log` — data: HTML lines (`logtext.render_lines`), the id holds the byte offset after them;
- `end` — data: the attempt topic whose log is over;
- `log-interrupted` — data: the attempt topic whose log could not be read (lines shown stay);
- `: keep-alive` comments every `HEARTBEAT` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter

from brisa.control.changefeed import Change, ChangeFeed
from brisa.logs import tail
from brisa.web.ui.coalescing import Coalescer
from brisa.web.ui.live import live_event
from brisa.web.ui.logbatch import FLUSH_EVERY, MAX_LINES, LogBatcher
from brisa.web.ui.resume import LogStart, Position

log = logging.getLogger(__name__)
HEARTBEAT = 15.0
RETRY_MS = 2000  # the browser's own reconnect delay after a cut stream
_DONE = object()


def sse(event: str | None, data: str, event_id: str | None = None) -> str:
    """One event in the wire format: every line of `data` on a `data:` line of its own."""
    head = (f"id: {event_id}\n" if event_id is not None else "") + (
        f"event: {event}\n" if event else ""
    )
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


@dataclass
class EventStream:
    feed: ChangeFeed
    topics: list[str]
    position: Position | None
    log: LogStart | None = None
    follower: tail.Follower | None = None
    limiter: CapacityLimiter | None = None
    receive: Callable[[], Any] | None = None  # the request's ASGI receive (disconnects)
    heartbeat: float = HEARTBEAT
    _out: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    _changes: asyncio.Queue[list[Change] | None] = field(default_factory=asyncio.Queue)
    _coalescer: Coalescer = field(default_factory=Coalescer)
    _change: int = 0
    _log_at: tuple[int, int] | None = None

    def _event_id(self) -> str:
        """Where a browser that saw everything sent so far resumes (never past a change
        that is still held back by coalescing)."""
        oldest = self._coalescer.oldest_pending()
        change = self._change if oldest is None else min(self._change, oldest - 1)
        offset, line = self._log_at if self._log_at else (None, None)
        return Position(change, offset, line).event_id()

    async def run(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()

        def deliver(batch: list[Change] | None) -> None:
            loop.call_soon_threadsafe(self._changes.put_nowait, batch)

        sub = self.feed.subscribe(self.topics, deliver)
        tasks = [asyncio.create_task(self._pump_changes())]
        if self.follower is not None and self.log is not None:
            self._log_at = (self.log.offset, self.log.line)
            tasks.append(asyncio.create_task(self._pump_log(self.follower, self.log)))
        if self.receive is not None:
            tasks.append(asyncio.create_task(self._watch_disconnect(self.receive)))
        try:
            yield f"retry: {RETRY_MS}\n\n"
            while (piece := await self._out.get()) is not None:
                yield piece
        finally:
            self.feed.unsubscribe(sub)
            for task in tasks:
                task.cancel()

    def _start(self) -> None:
        """What the browser missed since its last event: replayed, or a resync."""
        self._change = self.feed.last_id
        if self.position is None:
            return
        missed = self.feed.since(self.position.change, self.topics)
        if missed is None:
            self._out.put_nowait(sse("resync", "{}", self._event_id()))
            return
        now = time.monotonic()
        for change in missed:
            self._coalescer.add(change.topic, change.id, now)

    async def _pump_changes(self) -> None:
        self._start()
        beat_at = time.monotonic() + self.heartbeat
        while True:
            now = time.monotonic()
            self._send_due(now)
            if now >= beat_at:
                self._out.put_nowait(": keep-alive\n\n")
                beat_at = now + self.heartbeat
            wake = min(beat_at, self._coalescer.next_due() or beat_at)
            try:
                batch = await asyncio.wait_for(self._changes.get(), max(0.0, wake - now))
            except TimeoutError:
                continue
            if batch is None:  # the server is stopping
                self._out.put_nowait(None)
                return
            for change in batch:
                self._coalescer.add(change.topic, change.id, time.monotonic())
                self._change = max(self._change, change.id)

    def _send_due(self, now: float) -> None:
        for topic, version in self._coalescer.due(now):
            data = json.dumps({"topic": topic, "version": version})
            self._out.put_nowait(sse(live_event(topic), data, self._event_id()))

    async def _pump_log(self, follower: tail.Follower, start: LogStart) -> None:
        try:
            await self._follow_log(follower, start)
        except Exception:  # the log store failed: the lines shown stay, the page is told
            log.warning("following the log of %s failed", start.topic, exc_info=True)
            self._out.put_nowait(sse("log-interrupted", start.topic, self._event_id()))

    async def _follow_log(self, follower: tail.Follower, start: LogStart) -> None:
        steps = iter(follower)
        batcher = LogBatcher(start.offset, start.line)
        flushed = time.monotonic()
        while True:
            step = await anyio.to_thread.run_sync(next, steps, _DONE, limiter=self.limiter)
            if step is _DONE:  # the follower's time is up: the page resumes on reconnect
                return
            if isinstance(step, tail.Chunk):
                batcher.feed(step.content)
            if isinstance(step, tail.End):
                batcher.finish()
                self._flush(batcher)
                self._out.put_nowait(sse("end", start.topic, self._event_id()))
                return
            quiet = step is None
            if batcher.waiting >= MAX_LINES or (
                batcher.waiting and (quiet or time.monotonic() - flushed >= FLUSH_EVERY)
            ):
                self._flush(batcher)
                flushed = time.monotonic()
            if quiet:
                await asyncio.sleep(tail.POLL_INTERVAL)

    def _flush(self, batcher: LogBatcher) -> None:
        for batch in batcher.batches():
            self._log_at = (batch.offset, batch.next_line)
            self._out.put_nowait(sse("log", str(batch.html), self._event_id()))

    async def _watch_disconnect(self, receive: Callable[[], Any]) -> None:
        with contextlib.suppress(Exception):
            while (await receive()).get("type") != "http.disconnect":
                pass
        self._out.put_nowait(None)
