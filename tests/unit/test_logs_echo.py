"""The log a pod's worker echoes to stdout in frames (`logs.echo`): what the executor takes
from `pods/log` to complete a log, exactly from the end of what the store holds."""

from __future__ import annotations

import os
from pathlib import Path

from brisa.logs.capture import Spool
from brisa.logs.echo import FRAME_BYTES, Echo, decode, encode, tail_from
from brisa.logs.masking import Masker

LOG = b"".join(
    f"2026-12-07T03:00:00.{i:03d}Z line {i}\r\xff\n".encode("latin-1") for i in range(500)
)


def framed(data: bytes, pieces: int = 7) -> bytes:
    """`data` echoed in `pieces` writes, with other output between the frames."""
    step = len(data) // pieces + 1
    out = [b"worker: starting\n"]
    for at in range(0, len(data), step):
        out += [*encode(at, data[at : at + step]), b"an unframed line\n"]
    return b"".join(out)


def test_frames_carry_any_bytes_in_lines_shorter_than_pipe_buf() -> None:
    frames = encode(10, LOG)
    assert all(f.endswith(b"\n") and f.count(b"\n") == 1 and len(f) < 4096 for f in frames)
    assert [o for o, _ in decode(b"".join(frames))] == [
        10 + i * FRAME_BYTES for i in range(len(frames))
    ]
    assert b"".join(d for _, d in decode(b"".join(frames))) == LOG


def test_the_tail_is_exactly_what_follows_the_offset() -> None:
    pod_log = framed(LOG)
    for offset in (0, 1, 100, len(LOG) // 2, len(LOG) - 1, len(LOG)):
        assert tail_from(pod_log, offset) == LOG[offset:]


def test_lines_that_are_not_frames_are_ignored() -> None:
    noise = b"brisa-log x y\nbrisa-log 3 !!not base64\nbrisa-log 5\n"
    assert tail_from(noise + framed(LOG) + noise, 0) == LOG


def test_a_gap_stops_the_tail_so_nothing_is_misplaced() -> None:
    first, _, third = encode(0, LOG[:100]), encode(100, LOG[100:200]), encode(200, LOG[200:])
    assert tail_from(b"".join(first + third), 50) == LOG[50:100]
    # the frames holding the offset were rotated away: nothing, rather than a hole
    assert tail_from(b"".join(third), 50) == b""
    assert tail_from(b"no frames at all\n", 0) == b""


def test_a_spool_with_an_echo_writes_its_masked_bytes_to_stdout(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    spool = Spool(tmp_path / "1.log", Masker(["hunter2"]), lambda: 0.0, echo=Echo(write_end))
    spool.write(b"password hunter2\npartial")
    spool.note("done")
    spool.finish()
    os.close(write_end)
    echoed = os.read(read_end, 1 << 16)
    os.close(read_end)
    whole = spool.read(0, spool.size)
    assert tail_from(echoed, 0) == whole
    assert b"hunter2" not in whole and b"***" in whole
