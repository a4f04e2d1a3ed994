"""One page's event stream against a fake feed: replay, resync, invalidations, log lines and
a clean end when the server stops (UI.md A.1-3, A.3-3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from brisa.control.changefeed import Change, ChangeFeed
from brisa.logs import tail
from brisa.web.ui.eventstream import EventStream
from brisa.web.ui.live import live_event
from brisa.web.ui.resume import LogStart, Position


class FakeFeed:
    def __init__(self, last_id: int = 10, history: list[Change] | None = None) -> None:
        self.last_id = last_id
        self.history = history
        self.deliver: Callable[[list[Change] | None], None] | None = None
        self.subscribed: list[str] = []

    def subscribe(self, topics: Iterable[str], deliver: Any) -> object:
        self.subscribed = list(topics)
        self.deliver = deliver
        return object()

    def unsubscribe(self, _sub: object) -> None:
        self.deliver = None

    def since(self, last: int, topics: Iterable[str]) -> list[Change] | None:
        if self.history is None:
            return None
        return [c for c in self.history if c.id > last and c.topic in set(topics)]


async def read(stream: EventStream, feed: FakeFeed, actions: list[Any]) -> str:
    """Run `stream`, calling each action (with the feed) after each piece received."""
    out = []
    pieces = stream.run()
    async for piece in pieces:
        out.append(piece)
        if actions:
            actions.pop(0)(feed)
        await asyncio.sleep(0)
    return "".join(out)


def run(stream: EventStream, feed: FakeFeed, *actions: Any) -> str:
    return asyncio.run(asyncio.wait_for(read(stream, feed, list(actions)), 10))


def stop(feed: FakeFeed) -> None:
    assert feed.deliver is not None
    feed.deliver(None)


def test_missed_changes_are_replayed_then_the_stream_ends_on_shutdown() -> None:
    feed = FakeFeed(history=[Change(11, "run:1"), Change(12, "run:2")])
    stream = EventStream(cast(ChangeFeed, feed), ["run:1"], Position(10))
    text = run(stream, feed, lambda _: None, stop)
    assert text.startswith("retry: 2000\n\n")
    assert f"event: {live_event('run:1')}\n" in text
    assert '"version": 11' in text and "run:2" not in text


def test_a_gap_too_old_asks_the_page_to_resync() -> None:
    feed = FakeFeed(history=None)
    text = run(EventStream(cast(ChangeFeed, feed), ["health"], Position(3)), feed, stop)
    assert "event: resync\n" in text


def test_a_change_is_sent_with_its_id_and_version() -> None:
    feed = FakeFeed()

    def change(feed: FakeFeed) -> None:
        assert feed.deliver is not None
        feed.deliver([Change(15, "dag:t/d")])

    text = run(EventStream(cast(ChangeFeed, feed), ["dag:t/d"], None), feed, change, stop)
    assert f"id: 15\nevent: {live_event('dag:t/d')}\n" in text
    assert 'data: {"topic": "dag:t/d", "version": 15}' in text


class FakeFollower:
    def __init__(self, steps: list[Any]) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[Any]:
        return iter(self.steps)


def test_log_lines_travel_as_escaped_html_and_end_with_an_end_event() -> None:
    feed = FakeFeed()
    follower = FakeFollower(
        [tail.Chunk(1, "<b>one</b>\n", 111), tail.Chunk(1, "two\n", 115), tail.End(1, 115)]
    )
    stream = EventStream(
        cast(ChangeFeed, feed),
        ["attempt:5/1"],
        None,
        log=LogStart("attempt:5/1", 5, 1, 100, 7),
        follower=cast(tail.Follower, follower),
    )

    async def until_end() -> str:
        out = []
        async for piece in stream.run():
            out.append(piece)
            if "event: end" in piece:
                stop(feed)
        return "".join(out)

    text = asyncio.run(asyncio.wait_for(until_end(), 10))
    assert "event: log\n" in text and "&lt;b&gt;one&lt;/b&gt;" in text
    assert 'id="L7"' in text and 'id="L8"' in text
    assert "id: 10_115_9\nevent: end\ndata: attempt:5/1\n" in text
