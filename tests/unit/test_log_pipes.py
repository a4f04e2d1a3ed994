"""The log server's one thread for every attempt's pipe (`logs.pipes`, ADR 0026): each
attempt's output reaches its own spool whole and in order, a pipe that ends is closed, a
task printing faster than its spool takes it is held back without holding the others."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from brisa.logs.capture import Backlog, Spool
from brisa.logs.masking import Masker
from brisa.logs.pipes import PipeHub

WAIT = 30.0  # only ever waited for in full when something is broken


def spooled(tmp_path: Path, name: str, limit: int = 64 << 20) -> tuple[Spool, Backlog]:
    spool = Spool(tmp_path / name / "1.log", Masker(["hunter2"]))
    backlog = Backlog(spool, lambda: None, limit=limit)
    backlog.start()
    return spool, backlog


def text(spool: Spool) -> str:
    """The spool's lines without their time stamps."""
    lines = spool.read(0, spool.size).decode().splitlines()
    return "\n".join(line.split(" ", 1)[1] for line in lines)


def test_every_pipe_reaches_its_own_spool_whole_masked_and_in_order(tmp_path: Path) -> None:
    hub = PipeHub()
    attempts = []
    for n in range(5):
        read_end, write_end = os.pipe()
        spool, backlog = spooled(tmp_path, f"a{n}")
        reader = hub.reader(read_end, backlog)
        reader.start()
        attempts.append((write_end, spool, backlog, reader))
    for i in range(200):
        for n, (write_end, *_) in enumerate(attempts):
            os.write(write_end, f"attempt {n} line {i} hunter2\n".encode())
    for n, (write_end, spool, backlog, reader) in enumerate(attempts):
        os.close(write_end)
        reader.ending()
        assert reader.join(WAIT)
        backlog.close(WAIT)
        spool.finish()
        expected = "\n".join(f"attempt {n} line {i} ***" for i in range(200))
        assert text(spool) == expected and reader.lost == 0


def test_a_pipe_still_held_open_is_not_waited_for(tmp_path: Path) -> None:
    hub = PipeHub()
    read_end, write_end = os.pipe()
    spool, backlog = spooled(tmp_path, "held")
    reader = hub.reader(read_end, backlog)
    reader.start()
    os.write(write_end, b"before\n")
    reader.ending()
    assert not reader.join(0.2)  # a process the attempt left behind still holds it
    os.close(write_end)
    assert reader.join(WAIT)
    backlog.close(WAIT)
    spool.finish()
    assert text(spool) == "before"


def test_a_task_printing_faster_than_its_spool_is_held_back_alone(tmp_path: Path) -> None:
    hub = PipeHub()
    slow_read, slow_write = os.pipe()
    slow_spool, slow_backlog = spooled(tmp_path, "slow", limit=1)  # over it after a read
    release = threading.Event()
    writing = slow_spool.write
    slow_spool.write = lambda raw, wall=None: (release.wait(WAIT), writing(raw, wall))[1]  # type: ignore[method-assign]
    slow = hub.reader(slow_read, slow_backlog)
    slow.start()
    quick_read, quick_write = os.pipe()
    quick_spool, quick_backlog = spooled(tmp_path, "quick")
    quick = hub.reader(quick_read, quick_backlog)
    quick.start()
    os.write(slow_write, b"x" * 100 + b"\n")
    os.write(quick_write, b"not held back\n")
    os.close(quick_write)
    quick.ending()
    assert quick.join(WAIT)  # read to its end while the other's spool is stuck
    quick_backlog.close(WAIT)
    quick_spool.finish()
    assert text(quick_spool) == "not held back"
    os.write(slow_write, b"y\n")
    release.set()
    os.close(slow_write)
    slow.ending()
    assert slow.join(WAIT)
    slow_backlog.close(WAIT)
    slow_spool.finish()
    assert text(slow_spool) == "x" * 100 + "\ny"
