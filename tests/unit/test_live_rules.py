"""The pure rules of live updates: coalescing, resume positions, stream limits, log batches
and the feed's cursor (UI.md A.1-3, A.1-5, A.3-3)."""

from __future__ import annotations

from brisa.store.changes import Cursor
from brisa.web.ui import resume
from brisa.web.ui.coalescing import Coalescer
from brisa.web.ui.logbatch import MAX_LINES, LogBatcher
from brisa.web.ui.streamslots import StreamSlots


def test_a_quiet_topic_settles_briefly_then_a_burst_goes_as_one_event() -> None:
    c = Coalescer(interval=1.0, settle=0.25)
    c.add("run:1", 10, now=100.0)
    assert c.due(100.0) == [] and c.next_due() == 100.25
    c.add("run:1", 11, now=100.125)  # what follows the first change at once
    assert c.due(100.25) == [("run:1", 11)]  # one event, the newest version
    for version in (12, 13):
        c.add("run:1", version, now=100.5)
    assert c.due(100.75) == []  # at most one per topic per second
    assert c.next_due() == 101.25
    assert c.oldest_pending() == 13
    assert c.due(101.25) == [("run:1", 13)]
    assert c.due(105.0) == [] and c.next_due() is None
    c.add("run:1", 14, now=105.0)  # quiet again: only the settling wait
    assert c.due(105.25) == [("run:1", 14)]


def test_a_topic_that_never_stops_changing_still_gets_an_event_a_second() -> None:
    c = Coalescer(interval=1.0, settle=0.25)
    sent = []
    for step in range(100):  # a change every 0.0625 s for 6.25 s
        now = step / 16
        c.add("run:1", step, now=now)
        sent += [(now, version) for _, version in c.due(now)]
    assert [at for at, _ in sent] == [0.25, 1.25, 2.25, 3.25, 4.25, 5.25]


def test_a_task_finishing_every_2_s_is_one_refresh_per_task() -> None:
    """W10's live grid: each step of a chain is the task's success, the next task queued and
    then started, 20-40 ms apart; a tab re-fetches the column once per step (<= 30 a minute),
    and the last event carries the final version."""
    c = Coalescer()
    events: list[int] = []
    version = 0
    for step in range(30):
        t0 = step * 2.0
        for offset in (0.0, 0.004, 0.035):  # success, queued, running
            version += 1
            c.add("run:1", version, now=t0 + offset)
            events += [v for _, v in c.due(t0 + offset)]  # the stream wakes on a change
        while (wake := c.next_due()) is not None and wake < t0 + 2.0:  # and when one is due
            events += [v for _, v in c.due(wake)]
    assert len(events) == 30 and events[-1] == version


def test_topics_are_coalesced_independently() -> None:
    c = Coalescer(interval=1.0, settle=0.25)
    c.add("run:1", 1, now=0.0)
    c.add("run:2", 2, now=0.125)
    assert c.due(0.25) == [("run:1", 1)]
    assert c.due(0.375) == [("run:2", 2)]


def test_event_ids_round_trip() -> None:
    assert resume.parse("42") == resume.Position(42)
    assert resume.parse("42_1000_17") == resume.Position(42, 1000, 17)
    assert resume.Position(42, 1000, 17).event_id() == "42_1000_17"
    assert resume.Position(42).event_id() == "42"
    for bad in (None, "", "abc", "1_2", "-1", "1" * 40):
        assert resume.parse(bad) is None


def test_an_attempt_topic_names_where_its_log_starts() -> None:
    start = resume.log_start("attempt:5/2@1200:31")
    assert start == resume.LogStart("attempt:5/2", 5, 2, 1200, 31)
    assert resume.log_start("attempt:5/2") == resume.LogStart("attempt:5/2", 5, 2, 0, 1)
    assert resume.log_start("run:5") is None
    assert start is not None
    # A resumed stream goes on from what the browser saw last ...
    assert resume.resumed_log(start, resume.Position(9, 5000, 80)).offset == 5000
    # ... or from where the page started, when it saw no log line yet.
    assert resume.resumed_log(start, resume.Position(9)) == start


def test_a_user_holds_at_most_the_limit_of_streams() -> None:
    slots = StreamSlots(limit=2)
    assert slots.take("a") and slots.take("a")
    assert not slots.take("a")
    assert slots.take("b")  # another user is not affected
    slots.give_back("a")
    assert slots.take("a")


def test_log_batches_hold_whole_lines_and_know_their_end() -> None:
    batcher = LogBatcher(offset=100, next_line=5)
    batcher.feed("one\ntw")
    [batch] = batcher.batches()
    assert 'id="L5"' in batch.html and "tw" not in batch.html
    assert (batch.offset, batch.next_line) == (104, 6)
    batcher.feed("o\nthrée\n")
    [batch] = batcher.batches()
    assert 'id="L6"' in batch.html and 'id="L7"' in batch.html
    assert batch.offset == 104 + len("two\nthrée\n".encode())
    batcher.feed("last")
    batcher.finish()
    [batch] = batcher.batches()
    assert batch.offset == 104 + len("two\nthrée\nlast".encode())


def test_log_batches_are_at_most_max_lines() -> None:
    batcher = LogBatcher(offset=0)
    batcher.feed("x\n" * (MAX_LINES * 2 + 1))
    sizes = [batch.lines for batch in batcher.batches()]
    assert sizes == [MAX_LINES, MAX_LINES, 1]


def test_the_cursor_looks_again_for_ids_a_slower_transaction_may_still_commit() -> None:
    cursor = Cursor(last=10)
    cursor.advance([11, 14], now=0.0)
    assert cursor.last == 14 and set(cursor.skipped) == {12, 13}
    cursor.advance([12], now=1.0)
    assert set(cursor.skipped) == {13}
    cursor.advance([], now=60.0)  # rolled back: given up
    assert cursor.skipped == {}
