"""Reading and following an attempt's log, against the local object store and a fake clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from brisa.core.records import AttemptRecord, RunRecord, TaskRecord
from brisa.core.states import RunState, TaskState
from brisa.logs import layout, tail
from brisa.logs.tail import Chunk, End, Follower
from brisa.objectstore.local import LocalObjectStore

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
RUN = RunRecord(
    id=1, team="team", dag_id="dag", run_id="manual__1", run_type="manual",
    state=RunState.RUNNING, version_id=1, logical_date=T0, data_interval_start=T0,
    data_interval_end=T0, conf={}, created_at=T0,
)  # fmt: skip
PREFIX = layout.attempt_prefix("team", "dag", "manual__1", "hello", 1)


class World:
    """The task's row, the object store and a clock that moves only when someone sleeps."""

    def __init__(self, root: Path) -> None:
        self.objects = LocalObjectStore(root)
        self.ti = TaskRecord(id=7, run_pk=1, task_id="hello", state=TaskState.RUNNING,
                             try_number=1, start_date=T0)  # fmt: skip
        self.elapsed = 0.0
        self.plan: list[tuple[float, Callable[[], None]]] = []

    # TaskSource
    def tasks_by_id(self, ti_ids: list[int]) -> dict[int, TaskRecord]:
        return {self.ti.id: self.ti}

    def list_attempts(self, ti_id: int) -> list[AttemptRecord]:
        return []

    # clock
    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += seconds
        while self.plan and self.plan[0][0] <= self.elapsed:
            self.plan.pop(0)[1]()

    def at(self, when: float, action: Callable[[], None]) -> None:
        self.plan.append((when, action))
        self.plan.sort(key=lambda item: item[0])

    # the worker
    def ship(self, seq: int, text: str) -> None:
        self.objects.put(layout.chunk_key(PREFIX, seq), text.encode())

    def finish(self, state: TaskState = TaskState.SUCCESS) -> None:
        self.ti = dataclasses.replace(self.ti, state=state, end_date=self.now())

    def write_full(self) -> None:
        chunks = [i for i in self.objects.list(PREFIX)]
        data = b"".join(self.objects.get(i.key) for i in chunks)
        self.objects.put(PREFIX + layout.FULL, data)
        self.objects.delete(i.key for i in chunks)

    def follower(self, offset: int = 0, try_number: int | None = None) -> Follower:
        return Follower(self.objects, self, RUN, self.ti, try_number, offset, self.now,
                        monotonic=self.monotonic, sleep=self.sleep,
                        poll_interval=0.5, max_duration=60)  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "logs")


def events(follower: Follower) -> list[Chunk | End]:
    return [e for e in follower if e is not None]


def text(found: list[Chunk | End]) -> str:
    return "".join(e.content for e in found if isinstance(e, Chunk))


def test_following_a_running_attempt_gives_each_line_as_it_is_shipped(world: World) -> None:
    world.ship(1, "one\n")
    world.at(1.0, lambda: world.ship(2, "two\n"))
    world.at(2.0, lambda: world.ship(3, "three\n"))
    world.at(2.2, world.finish)
    world.at(2.3, world.write_full)
    seen: list[tuple[float, Chunk | End]] = []

    for event in world.follower():
        if event is not None:
            seen.append((world.elapsed, event))

    assert [(t, e) for t, e in seen] == [
        (0.0, Chunk(1, "one\n", 4)),
        (1.0, Chunk(1, "two\n", 8)),
        (2.0, Chunk(1, "three\n", 14)),
        (2.5, End(1, 14)),  # full.log: nothing more will come, no need to wait
    ]


def test_lines_shipped_just_after_the_attempt_ended_are_not_lost(world: World) -> None:
    world.ship(1, "working\n")
    world.finish()
    world.at(1.0, lambda: world.ship(2, "recorded as success\n"))  # the worker's last words

    found = events(world.follower())

    assert text(found) == "working\nrecorded as success\n"
    assert found[-1] == End(1, 28)


def test_the_log_of_a_killed_worker_ends_once_it_has_settled(world: World) -> None:
    world.ship(1, "partial\n")
    world.at(5.0, lambda: world.finish(TaskState.FAILED))  # declared lost; no full.log ever

    found = events(world.follower())

    assert found == [Chunk(1, "partial\n", 8), End(1, 8)]
    assert 5.0 + tail.SETTLE <= world.elapsed <= 5.0 + tail.SETTLE + 1.0


def test_following_resumes_exactly_at_an_offset(world: World) -> None:
    world.ship(1, "héllo\n")
    world.ship(2, "wörld\n")
    world.write_full()

    whole = text(events(world.follower()))
    cut = len("héllo\nw".encode())

    assert text(events(world.follower(offset=cut))) == "örld\n"
    assert whole == "héllo\nwörld\n"


def test_a_character_cut_between_two_chunks_is_sent_whole(world: World) -> None:
    data = "€uro\n".encode()
    world.objects.put(layout.chunk_key(PREFIX, 1), data[:2])
    world.at(0.5, lambda: world.objects.put(layout.chunk_key(PREFIX, 2), data[2:]))
    world.at(0.6, world.finish)

    found = events(world.follower())

    assert [e.content for e in found if isinstance(e, Chunk)] == ["€uro\n"]


def test_a_task_that_never_ran_ends_at_once(world: World) -> None:
    world.ti = dataclasses.replace(world.ti, state=TaskState.UPSTREAM_FAILED, try_number=0)

    assert events(world.follower()) == [End(0, 0)]


def test_a_pending_task_is_followed_from_its_first_try(world: World) -> None:
    world.ti = dataclasses.replace(world.ti, state=TaskState.QUEUED, try_number=0)

    def start() -> None:
        world.ti = dataclasses.replace(world.ti, state=TaskState.RUNNING, try_number=1)
        world.ship(1, "started\n")

    world.at(2.0, start)
    world.at(3.0, world.write_full)

    assert events(world.follower()) == [Chunk(1, "started\n", 8), End(1, 8)]


def test_a_follower_is_let_go_after_its_maximum_duration(world: World) -> None:
    world.ship(1, "still running\n")

    found = events(world.follower())

    assert found == [Chunk(1, "still running\n", 14)]  # no End: the client reconnects
    assert world.elapsed == pytest.approx(60.0)


def test_a_page_is_finished_once_the_log_is_complete(world: World) -> None:
    world.ship(1, "a\n")
    page = tail.page(world.objects, world, RUN, world.ti, 1, 0, world.now())
    assert (page.content, page.next_offset, page.finished) == ("a\n", 2, False)

    world.finish()
    page = tail.page(world.objects, world, RUN, world.ti, 1, 2, world.now())
    assert not page.finished  # ended a moment ago: the worker may still ship its last lines

    world.write_full()
    page = tail.page(world.objects, world, RUN, world.ti, 1, 2, world.now())
    assert (page.content, page.next_offset, page.finished) == ("", 2, True)


def test_a_page_of_a_killed_worker_is_finished_after_it_settled(world: World) -> None:
    world.ship(1, "a\n")
    world.finish(TaskState.FAILED)
    world.sleep(tail.SETTLE)

    assert tail.page(world.objects, world, RUN, world.ti, 1, 0, world.now()).finished


def test_a_log_ending_in_half_a_character_is_still_sent_whole_at_the_end(world: World) -> None:
    world.objects.put(layout.chunk_key(PREFIX, 1), b"ok \xe2\x82")
    world.write_full()

    found = events(world.follower())

    assert text(found) == "ok \ufffd"
    assert found[-1] == End(1, 5)


def test_a_large_log_is_read_in_bounded_pages(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tail, "PAGE_BYTES", 1000)
    lines = "".join(f"line {i:05d} ✓\n" for i in range(700))  # about 10 pages
    world.ship(1, lines[:4000])
    world.ship(2, lines[4000:])
    world.write_full()
    world.finish()

    pages, offset = [], 0
    while True:
        page = tail.page(world.objects, world, RUN, world.ti, 1, offset, world.now())
        if not page.content:
            break
        pages.append(page.content)
        offset = page.next_offset
    streamed = [e.content for e in events(world.follower()) if isinstance(e, Chunk)]

    assert "".join(pages) == "".join(streamed) == lines
    assert max(len(p.encode()) for p in pages + streamed) <= 1000
    assert len(pages) >= len(lines.encode()) // 1000
