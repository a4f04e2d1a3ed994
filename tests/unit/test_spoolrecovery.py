"""Finishing a dead worker's log from its spool file: what is decided (pure), and what the
sweeper does with a local folder store, a fake process table and a fake clock."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brisa.logs import layout
from brisa.logs.recovery import (
    MAX_AGE,
    Completion,
    LeftSpool,
    SpoolSweeper,
    Verdict,
    completion,
    judge,
    tail_chunks,
)
from brisa.objectstore import ObjectInfo, StoreUnavailable
from brisa.objectstore.local import LocalObjectStore

ATTEMPT = ("team", "dag", "run", "task", 1)
PREFIX = layout.attempt_prefix(*ATTEMPT)
NOW = 1_800_000_000.0


def info(key: str, size: int) -> ObjectInfo:
    return ObjectInfo(key, size, datetime(2026, 11, 24, tzinfo=UTC))


def left(attempt: tuple[str, str, str, str, int] | None = ATTEMPT) -> LeftSpool:
    return LeftSpool(Path("x.chunks/7.log"), 7, attempt, 10, NOW)


# --- Decisions ------------------------------------------------------------------------------


def test_a_spool_is_left_alone_while_any_process_of_its_worker_group_runs() -> None:
    assert judge(left(), group_alive=True) is Verdict.WAIT
    assert judge(left(None), group_alive=True) is Verdict.WAIT


def test_a_dead_workers_spool_is_finished_or_handed_over_if_it_never_started() -> None:
    assert judge(left(), group_alive=False) is Verdict.FINISH
    assert judge(left(None), group_alive=False) is Verdict.HAND_OVER


def test_what_the_store_holds_is_read_from_its_chunks() -> None:
    assert completion(PREFIX, []) == Completion(shipped=0, last=0)
    chunks = [info(layout.chunk_key(PREFIX, n), 100) for n in (2, 1, 3)]
    assert completion(PREFIX, chunks) == Completion(shipped=300, last=3)
    assert completion(PREFIX, [*chunks, info(PREFIX + layout.FULL, 300)]) is None


def test_the_tail_continues_the_numbering_in_pieces_of_at_most_chunk_bytes() -> None:
    done = Completion(shipped=300, last=3)
    assert tail_chunks(done, 550, 100) == [(4, 300, 400), (5, 400, 500), (6, 500, 550)]
    assert tail_chunks(done, 300, 100) == []


# --- The sweeper ----------------------------------------------------------------------------


class World:
    """A spool folder, a local store, which process groups run, and the time."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "spool"
        self.store = LocalObjectStore(tmp_path / "logs")
        self.alive: set[int] = set()
        self.now = NOW
        self.down = False
        self.attempts: set[tuple[int, int]] = set()  # (ti, try) of the workers that live

    def open_store(self) -> LocalObjectStore:
        if self.down:
            raise StoreUnavailable("object store file:///logs is unavailable")
        return self.store

    def sweeper(self, group_alive: Callable[[int], bool] | None = None) -> SpoolSweeper:
        return SpoolSweeper(
            self.folder,
            self.open_store,
            chunk_bytes=100,
            group_alive=group_alive or (lambda pid: pid in self.alive),
            live_attempts=lambda: self.attempts,
            wall=lambda: self.now,
            sleep=lambda seconds: None,
        )

    def spool(
        self,
        pid: int,
        data: bytes,
        attempt: tuple[str, ...] | None = ATTEMPT,
        executor: str = "ti1-try1.log",
        *,
        legacy: bool = False,
    ) -> Path:
        """A spool left by worker `pid` beside the executor's file `executor`: a flat
        `<file>.<pid>.spool`, or (`legacy`) the layout before s21 (2026-12-07), a
        `<file>.chunks/<pid>.log` in a folder of its own."""
        if legacy:
            path = self.folder / f"{executor}.chunks" / f"{pid}.log"
        else:
            path = self.folder / f"{executor}.{pid}.spool"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (self.now, self.now))  # written now, by the fake clock
        if attempt is not None:
            path.with_suffix(".attempt").write_text(json.dumps(list(attempt)))
        return path

    def spools(self) -> list[Path]:
        """What is left of spools in the folder, in either layout."""
        return [*self.folder.glob("*.spool"), *self.folder.glob("*.chunks")]

    def executor_file(self, ti: int, data: bytes = b"", age: float = 600) -> Path:
        """The file a worker's stdout and stderr go to, made when it was launched `age` s ago."""
        path = self.folder / f"ti{ti}-try1.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (self.now - age, self.now - age))
        return path

    def log(self) -> bytes:
        return layout.read(self.store, PREFIX, 0, 1 << 20)[0]


LINES = b"".join(b"2026-11-24T10:00:00.000Z line %d\n" % i for i in range(10))


@pytest.mark.parametrize("legacy", [False, True], ids=["flat", "older layout"])
def test_the_unshipped_tail_goes_to_the_store_then_full_log_and_the_spool_goes(
    tmp_path: Path, legacy: bool
) -> None:
    world = World(tmp_path)
    world.store.put(layout.chunk_key(PREFIX, 1), LINES[:120])  # shipped before the kill
    spool = world.spool(42, LINES, legacy=legacy)
    spool.with_suffix(".attempt-partial").write_text("[")  # a write the kill interrupted
    assert world.sweeper().sweep() == 1
    log = world.log()
    assert log.startswith(LINES)
    assert log[len(LINES) :].endswith(
        b" brisa: the worker ended before its log was complete; the executor shipped the "
        b"last %d bytes from its spool file\n" % (len(LINES) - 120)
    )
    assert [o.key for o in world.store.list(PREFIX)] == [PREFIX + layout.FULL]
    assert not world.spools() and not list(world.folder.glob("**/*.attempt*"))


def test_a_line_cut_by_the_kill_is_ended_before_the_closing_line(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.spool(42, LINES + b"half a li")
    world.sweeper().sweep()
    lines = world.log().splitlines()
    assert lines[-2].endswith(b"half a li") and b"the executor shipped" in lines[-1]


def test_an_offset_a_reader_took_from_the_chunks_stays_valid(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.store.put(layout.chunk_key(PREFIX, 1), LINES[:120])
    world.spool(42, LINES)
    world.sweeper().sweep()
    assert layout.read(world.store, PREFIX, 120)[0].startswith(LINES[120:])


def test_a_live_workers_spool_is_not_touched(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.alive.add(42)
    spool = world.spool(42, LINES)
    assert world.sweeper().sweep() == 0
    assert spool.exists() and world.store.list("") == []


def test_a_complete_log_is_left_as_it_is_and_its_spool_removed(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.store.put(PREFIX + layout.FULL, LINES)
    spool = world.spool(42, LINES + b"more")
    world.sweeper().sweep()
    assert world.log() == LINES and not spool.exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["flat", "older layout"])
def test_a_spool_of_an_attempt_that_never_started_goes_to_the_executors_file(
    tmp_path: Path, legacy: bool
) -> None:
    world = World(tmp_path)
    executor_file = world.folder / "ti1-try1.log"
    world.spool(42, b"brisa: cannot start: refused\n", attempt=None, legacy=legacy)
    executor_file.write_bytes(b"before\n")
    world.sweeper().sweep()
    assert executor_file.read_bytes() == b"before\nbrisa: cannot start: refused\n"
    assert world.store.list("") == [] and not world.spools()


def test_an_attempt_file_the_kill_cut_short_counts_as_none(tmp_path: Path) -> None:
    # The log server writes the attempt file in place: a kill mid-write leaves an array
    # without its end, and the log goes where the log of an attempt never named goes.
    world = World(tmp_path)
    executor_file = world.folder / "ti1-try1.log"
    spool = world.spool(42, b"brisa: cannot start: refused\n", attempt=None)
    spool.with_suffix(".attempt").write_text(json.dumps(list(ATTEMPT))[:-1])
    executor_file.write_bytes(b"before\n")
    world.sweeper().sweep()
    assert executor_file.read_bytes() == b"before\nbrisa: cannot start: refused\n"
    assert world.store.list("") == [] and not world.spools()


def test_while_the_store_is_down_the_spool_is_kept_and_given_up_after_max_age(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path)
    spool = world.spool(42, LINES)
    sweeper = world.sweeper()
    world.down = True
    assert sweeper.sweep() == 0 and spool.exists()
    assert "cannot finish the log" in caplog.text and "unavailable" in caplog.text
    caplog.clear()
    assert sweeper.sweep() == 0 and spool.exists()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # said once is enough
    world.now += MAX_AGE
    assert sweeper.sweep() == 1 and not spool.exists()
    assert "gave up on the log" in caplog.text


def test_a_store_back_in_time_gets_the_log(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.spool(42, LINES)
    sweeper = world.sweeper()
    world.down = True
    sweeper.sweep()
    world.down = False
    assert sweeper.sweep() == 1 and world.log().startswith(LINES)


def test_a_worker_found_dead_is_waited_for_until_its_group_is_gone(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.spool(42, LINES)
    checks = 0

    def dies_on_third_look(pid: int) -> bool:
        nonlocal checks
        checks += 1
        return checks < 3

    sweeper = world.sweeper(dies_on_third_look)
    sweeper.worker_gone(42, (1, 1))
    assert sweeper.sweep_gone() == 1 and world.log().startswith(LINES)
    assert sweeper.sweep_gone() == 0  # reported once, settled once


def test_a_gone_workers_sweep_reads_its_spool_only_not_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(tmp_path)
    others = []
    for ti in range(2, 102):  # dead workers no executor reported, and their empty files
        others.append(world.spool(1000 + ti, LINES, executor=f"ti{ti}-try1.log"))
        world.executor_file(ti)
    world.spool(42, LINES)
    looked_at: list[int] = []

    def group_alive(pid: int) -> bool:
        looked_at.append(pid)
        return False

    real_scandir, real_glob = os.scandir, Path.glob

    def scandir(path: str = ".") -> object:
        assert not str(path).startswith(str(world.folder)), f"listed {path}"
        return real_scandir(path)

    def glob(self: Path, pattern: str) -> object:
        assert not str(self).startswith(str(world.folder)), f"listed {self}"
        return real_glob(self, pattern)

    sweeper = world.sweeper(group_alive)
    sweeper.worker_gone(42, (1, 1))
    monkeypatch.setattr(os, "scandir", scandir)  # the store lists its own folder
    monkeypatch.setattr(Path, "glob", glob)
    assert sweeper.sweep_gone() == 1 and world.log().startswith(LINES)
    assert looked_at == [42]
    # each other worker's spool, its attempt file and its executor's file
    assert all(p.exists() for p in others) and len(list(world.folder.iterdir())) == 300
    monkeypatch.undo()
    assert sweeper.sweep() == len(others)  # the full sweep gets the rest
    assert not list(world.folder.iterdir())  # and the executors' empty files


def test_a_gone_workers_spool_is_left_to_the_full_sweep_while_its_group_lives_on(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.alive.add(42)
    spool = world.spool(42, LINES)
    sweeper = world.sweeper()
    sweeper.worker_gone(42, (1, 1))
    sweeper.worker_gone(43, (2, 1))  # one that left no spool (its log process finished it)
    assert sweeper.sweep_gone() == 0 and spool.exists()
    world.alive.clear()
    assert sweeper.sweep() == 1 and world.log().startswith(LINES)


def test_a_spool_its_log_process_finishes_while_listed_is_left_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Listed by the sweep, then shipped and removed by the worker's own log process before
    # the sweeper opens it (the worker's group ended meanwhile): nothing is left to do.
    world = World(tmp_path)
    spool = world.spool(42, LINES)

    def gone(pid: int) -> bool:
        spool.unlink()
        spool.with_suffix(".attempt").unlink()
        return False

    with caplog.at_level(logging.DEBUG, logger="brisa.spools"):
        assert world.sweeper(group_alive=gone).sweep() == 1
    assert world.store.list("") == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_spool_folder_removed_while_the_sweep_lists_it_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(tmp_path)
    world.spool(42, LINES, legacy=True)
    real = os.scandir

    def vanishing(path: object = ".") -> object:
        if str(path).endswith(".chunks"):  # removed by its log process once listed
            raise FileNotFoundError(path)
        return real(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", vanishing)
    assert world.sweeper().sweep() == 0
    monkeypatch.setattr(os, "scandir", real)
    assert world.sweeper().sweep() == 1


@pytest.mark.parametrize("legacy", [False, True], ids=["flat", "older layout"])
def test_an_empty_executor_file_goes_once_its_worker_is_gone_and_its_log_finished(
    tmp_path: Path, legacy: bool
) -> None:
    world = World(tmp_path)
    done = world.executor_file(1)
    running = world.executor_file(2)
    world.attempts.add((2, 1))
    shipping = world.executor_file(3)  # its log process still ships the log
    world.alive.add(42)
    world.spool(42, LINES, executor="ti3-try1.log", legacy=legacy)
    said = world.executor_file(4, b"printed before the log capture started\n")
    launched = world.executor_file(5, age=1)  # its worker may not be recorded yet

    world.sweeper().sweep()

    assert not done.exists()
    assert all(p.exists() for p in (running, shipping, said, launched))
    world.attempts.clear()
    world.alive.clear()
    world.now += 60
    world.sweeper().sweep()
    assert [p.name for p in world.folder.iterdir()] == [said.name]  # what it says is kept
