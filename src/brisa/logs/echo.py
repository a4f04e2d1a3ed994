"""The log echoed to the container's stdout, in frames: how a worker pod's executor completes
the log of a worker that died before shipping its last chunk (the pod's counterpart of the
spool file that `logs.recovery` reads on the worker's machine).

In a pod the worker's log process also writes every byte it appends to the spool (masked and
stamped: the spool's bytes, never the task's raw output) to its own stdout, which the kubelet
keeps and `pods/log` serves while the pod exists. Other lines reach that stdout too (what the
worker prints before its capture starts or after it ends, the log process's own problems),
and the runtime stores it line by line, stdout and stderr interleaved, so each piece of the
log goes out as one line of its own:

    brisa-log <offset> <base64 of up to FRAME_BYTES bytes of the log>\n

`offset` is where the piece starts in the attempt's log, so the executor takes exactly the
bytes the store lacks (`tail_from`). Base64 makes any byte survive the runtime's line
handling (carriage returns, invalid UTF-8, a partial last line); one frame is a single
`write` shorter than PIPE_BUF, so another process writing the same pipe cannot split it.
Lines that are not frames, or frames that do not follow on, are ignored.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Iterator

MARK = b"brisa-log "
FRAME_BYTES = 3000  # base64: 4000 characters, so a frame stays under PIPE_BUF (4096)


def encode(offset: int, data: bytes) -> list[bytes]:
    """The frames of `data`, which starts at `offset` in the log."""
    frames = []
    for at in range(0, len(data), FRAME_BYTES):
        piece = binascii.b2a_base64(data[at : at + FRAME_BYTES])  # ends with b"\n"
        frames.append(MARK + str(offset + at).encode() + b" " + piece)
    return frames


def decode(pod_log: bytes) -> Iterator[tuple[int, bytes]]:
    """The (offset, bytes) of every well-formed frame in a pod's log, in order."""
    for line in pod_log.split(b"\n"):
        if not line.startswith(MARK):
            continue
        offset, _, text = line[len(MARK) :].partition(b" ")
        if not offset.isdigit():
            continue
        try:
            data = binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            continue
        if data:
            yield int(offset), data


def tail_from(pod_log: bytes, offset: int) -> bytes:
    """The log's bytes from `offset` on, as far as the frames follow on without a gap: empty
    when no frame holds the byte at `offset` (the pod's log was rotated past it, or holds no
    frame at all)."""
    parts: list[bytes] = []
    at = offset
    for start, data in decode(pod_log):
        end = start + len(data)
        if end <= at or start > at:
            continue  # already shipped, or after a gap (a stray line): it does not follow on
        parts.append(data[at - start :])
        at = end
    return b"".join(parts)


class Echo:
    """Writes the spool's bytes to `fd` (the container's stdout) as frames, in order."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self.broken = False  # stdout is gone: the log itself goes on

    def write(self, offset: int, data: bytes) -> None:
        if self.broken:
            return
        try:
            for frame in encode(offset, data):
                view = memoryview(frame)
                while view:
                    view = view[os.write(self._fd, view) :]
        except OSError:
            self.broken = True
