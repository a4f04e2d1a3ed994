"""An attempt's log read as numbered lines, for people: windows of lines around any byte
offset (forwards or backwards), line numbers, levels, search and level filters over the whole
log. Memory stays bounded by a few blocks whatever the size of the log: every scan reads it
in `BLOCK`-sized pieces.

A line is the bytes up to and including a newline (the last line of a log still being
written may lack one: a window leaves it out until it is complete, unless the log is over).
Its number counts from 1; its offset is the byte offset of its first byte, which is what
permalinks (`at=`) and the live stream's event ids carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from brisa.logs import layout
from brisa.objectstore import ObjectStore

BLOCK = 1024 * 1024  # bytes read at once by scans
BACK_BLOCK = 256 * 1024  # bytes read at once when walking backwards
COUNT_BLOCK = 4 * 1024 * 1024  # newlines are counted, and remembered, per this many bytes
COUNTED_LOGS = 64  # logs whose newline counts are remembered (least recently used dropped)
# Newlines before each COUNT_BLOCK boundary of recently read logs, by log prefix: process-wide,
# as pages of one log come in separate requests (and tiny: 25 numbers for a 100 MB log).
_COUNTS: dict[str, list[int]] = {}
MAX_MATCHES = 10_000  # match positions a search returns (the count goes on)
LEVELS = ("debug", "info", "warning", "error")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_ERROR = re.compile(
    r"\b(?:ERROR|CRITICAL|FATAL)\b|^Traceback \(most recent call last\)|^\w*(?:Error|Exception)\b:"
    r"|^brisa: (?:task failed|cannot start)"
)
_WARNING = re.compile(r"\bWARN(?:ING)?\b")
# What a line at least this level must contain somewhere (`level_of` then decides).
_HINTS = {
    "error": re.compile(r"ERROR|CRITICAL|FATAL|Traceback|Error|Exception|brisa: "),
    "warning": re.compile(r"WARN|ERROR|CRITICAL|FATAL|Traceback|Error|Exception|brisa: "),
    "info": re.compile(r"^", re.MULTILINE),
    "debug": re.compile(r"^", re.MULTILINE),
}
_DEBUG = re.compile(r"\bDEBUG\b")


@dataclass(frozen=True)
class Line:
    number: int  # from 1
    offset: int  # of its first byte
    text: str  # without its newline


@dataclass(frozen=True)
class Match:
    number: int
    offset: int


def split_stamp(text: str) -> tuple[str, str]:
    """(`2026-11-24T10:00:00.123Z`, rest) of a stamped line; ('', text) otherwise."""
    found = _STAMP.match(text)
    if found is None:
        return "", text
    return found.group(0)[:-1], text[found.end() :]


def level_of(text: str) -> str:
    """The line's level, inferred from its words (the log carries no structured level)."""
    _, body = split_stamp(text)
    if _ERROR.search(body):
        return "error"
    if _WARNING.search(body):
        return "warning"
    if _DEBUG.search(body):
        return "debug"
    return "info"


def at_least(level: str, minimum: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(minimum)


def split_lines(data: bytes, offset: int, number: int, *, over: bool) -> tuple[list[Line], int]:
    """The whole lines of `data` (read from `offset`, its first line numbered `number`) and
    the offset after the last one; a last line without newline counts only when `over`."""
    out: list[Line] = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            if not over:
                break
            end = len(data) - 1
            piece = data[start:]
        else:
            piece = data[start:end]
        out.append(Line(number + len(out), offset + start, piece.decode(errors="replace")))
        start = end + 1
    return out, offset + min(start, len(data))


class LogFile:
    """One try's log in the object store, read by lines."""

    def __init__(self, objects: ObjectStore, prefix: str, *, over: bool) -> None:
        self._objects = objects
        self._prefix = prefix
        self.over = over  # nothing more will be written
        segments = layout.segments(objects, prefix)
        self.complete = len(segments) == 1 and segments[0].key.endswith("/" + layout.FULL)
        self.size = segments[-1].start + segments[-1].size if segments else 0

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) (fewer if the log is shorter)."""
        pieces, at = [], start
        while at < end:
            data, at = layout.read(self._objects, self._prefix, at, end - at)
            if not data:
                break
            pieces.append(data)
        return b"".join(pieces)

    def blocks(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) pieces from `start` to `end` (the size), each at most BLOCK."""
        stop = self.size if end is None else min(end, self.size)
        at = start
        while at < stop:
            data = self.read(at, min(at + BLOCK, stop))
            if not data:
                return
            yield at, data
            at += len(data)

    def number_at(self, offset: int) -> int:
        """The number of the line starting at `offset` (the count of newlines before it + 1).

        Newlines are counted once per COUNT_BLOCK of the log and remembered (`_COUNTS`): a log
        only grows, so a count of a whole block stays true, and paging through a big log does
        not read it from the start again for every page.
        """
        offset = min(offset, self.size)
        counts = _COUNTS.pop(self._prefix, [0])
        if (len(counts) - 1) * COUNT_BLOCK > self.size:  # the log was removed and begun again
            counts = [0]
        whole = offset // COUNT_BLOCK
        while len(counts) <= whole:
            start = (len(counts) - 1) * COUNT_BLOCK
            block = sum(d.count(b"\n") for _, d in self.blocks(start, start + COUNT_BLOCK))
            counts.append(counts[-1] + block)
        _COUNTS[self._prefix] = counts
        while len(_COUNTS) > COUNTED_LOGS:
            _COUNTS.pop(next(iter(_COUNTS)))
        rest = sum(d.count(b"\n") for _, d in self.blocks(whole * COUNT_BLOCK, offset))
        return 1 + counts[whole] + rest

    def line_start(self, offset: int) -> int:
        """The offset of the line holding byte `offset`."""
        offset = max(0, min(offset, self.size))
        while offset > 0:
            lo = max(0, offset - BACK_BLOCK)
            found = self.read(lo, offset).rfind(b"\n")
            if found >= 0:
                return lo + found + 1
            offset = lo
        return 0

    def after(self, offset: int, count: int, number: int | None = None) -> list[Line]:
        """Up to `count` lines from the line start `offset` onwards."""
        out: list[Line] = []
        for line in self.scan(offset, number):
            if len(out) == count:
                break
            out.append(line)
        return out

    def before(self, offset: int, count: int, number: int | None = None) -> list[Line]:
        """Up to `count` whole lines ending before the line start `offset`."""
        lo, data = offset, b""
        while lo > 0 and data.count(b"\n") <= count:
            lo = max(0, lo - BACK_BLOCK)
            data = self.read(lo, offset)
        if lo > 0:  # drop the partial first line
            cut = data.find(b"\n") + 1
            lo, data = lo + cut, data[cut:]
        first = (self.number_at(offset) if number is None else number) - data.count(b"\n")
        lines, _ = split_lines(data, lo, first, over=False)
        return lines[-count:] if count else []

    def tail(self, count: int) -> list[Line]:
        """The last `count` lines (with the unterminated last one once the log is over)."""
        end = self.size
        lines = self.before(self._whole_end(), count)
        last = self._whole_end()
        if self.over and last < end:
            extra, _ = split_lines(self.read(last, end), last, self._next_number(lines), over=True)
            lines = (lines + extra)[-count:]
        return lines

    def _whole_end(self) -> int:
        """The offset after the last newline."""
        return self.line_start(self.size) if self.size else 0

    def _next_number(self, lines: list[Line]) -> int:
        return lines[-1].number + 1 if lines else self.number_at(self._whole_end())

    def scan(self, start: int = 0, number: int | None = None) -> Iterator[Line]:
        """Every line from the line start `start` (numbered `number`, counted when None),
        in BLOCK-sized reads."""
        number = self.number_at(start) if number is None else number
        at = start
        while at < self.size:
            data = self.read(at, min(at + BLOCK, self.size))
            last_block = at + len(data) >= self.size
            lines, after = split_lines(data, at, number, over=self.over and last_block)
            if not lines:
                if not data or last_block:
                    return
                data = self.read(at, self.size)  # one line longer than a block
                lines, after = split_lines(data, at, number, over=self.over)
                if not lines:
                    return
            yield from lines
            number += len(lines)
            at = after

    def first(self, minimum: str) -> Line | None:
        """The first line at `minimum` level or above (warning or error)."""
        hint = _HINTS[minimum]
        for line in self._candidates(hint):
            if at_least(level_of(line.text), minimum):
                return line
        return None

    def last(self, minimum: str) -> Line | None:
        """The last line at `minimum` level or above: a scan of the whole log (asked for by
        a person, not on every opening)."""
        hint = _HINTS[minimum]
        found = None
        for line in self._candidates(hint):
            if at_least(level_of(line.text), minimum):
                found = line
        return found

    def offset_of(self, number: int) -> int:
        """The offset of line `number` (the end of the log when it has fewer lines)."""
        seen = 1
        for at, data in self.blocks():
            count = data.count(b"\n")
            if seen + count >= number:
                index = -1
                for _ in range(number - seen):
                    index = data.find(b"\n", index + 1)
                return at + index + 1
            seen += count
        return self._whole_end()

    def search(self, pattern: re.Pattern[str], minimum: str = "debug") -> tuple[list[Match], int]:
        """The first MAX_MATCHES lines matching `pattern` at `minimum` level or above, and the
        count of all of them."""
        found: list[Match] = []
        total = 0
        for line in self._candidates(pattern):
            if minimum == "debug" or at_least(level_of(line.text), minimum):
                total += 1
                if len(found) < MAX_MATCHES:
                    found.append(Match(line.number, line.offset))
        return found, total

    def _candidates(self, pattern: re.Pattern[str]) -> Iterator[Line]:
        """Each line in which `pattern` matches, once, in order: the pattern runs over whole
        blocks of bytes (not line by line, nothing decoded) and only the lines it hits are cut
        out, counted and decoded."""
        raw = as_bytes(pattern)
        number, at = 1, 0
        while at < self.size:
            data = self.read(at, min(at + BLOCK, self.size))
            end = data.rfind(b"\n") + 1
            if at + len(data) >= self.size and self.over:
                end = len(data)
            elif end == 0:
                data = self.read(at, self.size)  # one line longer than a block
                end = data.find(b"\n") + 1 or (len(data) if self.over else 0)
                if end == 0:
                    return
            block = data[:end]
            if raw is not None:
                yield from _hits(raw, block, at, number)
            else:
                yield from _text_hits(pattern, block, at, number)
            number += block.count(b"\n")
            at += end

    def filtered(self, start: int, count: int, minimum: str) -> tuple[list[Line], int | None]:
        """Up to `count` lines at `minimum` level or above from `start`, and where to go on
        (None at the end of the log)."""
        out: list[Line] = []
        for line in self.scan(start):
            if at_least(level_of(line.text), minimum):
                if len(out) == count:
                    return out, line.offset
                out.append(line)
        return out, None


def as_bytes(pattern: re.Pattern[str]) -> re.Pattern[bytes] | None:
    """`pattern` for bytes when it is plain ASCII (most searches: faster, nothing decoded)."""
    if not pattern.pattern.isascii():
        return None
    flags = pattern.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL)
    try:
        return re.compile(pattern.pattern.encode(), flags)
    except re.error:
        return None


def _hits(pattern: re.Pattern[bytes], data: bytes, offset: int, number: int) -> Iterator[Line]:
    """The lines of `data` (starting at byte `offset`, line `number`) where `pattern` matches."""
    seen_to, counted_to = -1, 0
    for found in pattern.finditer(data):
        start = data.rfind(b"\n", 0, found.start()) + 1
        if start <= seen_to:
            continue
        stop = data.find(b"\n", start)
        stop = len(data) if stop < 0 else stop
        number += data.count(b"\n", counted_to, start)
        counted_to, seen_to = start, stop
        yield Line(number, offset + start, data[start:stop].decode(errors="replace"))


def _text_hits(pattern: re.Pattern[str], data: bytes, offset: int, number: int) -> Iterator[Line]:
    """`_hits` for a pattern that needs text: the block decoded, offsets back in bytes."""
    text = data.decode(errors="replace")
    seen_to, counted_to = -1, 0
    for found in pattern.finditer(text):
        start = text.rfind("\n", 0, found.start()) + 1
        if start <= seen_to:
            continue
        stop = text.find("\n", start)
        stop = len(text) if stop < 0 else stop
        number += text.count("\n", counted_to, start)
        counted_to, seen_to = start, stop
        yield Line(number, offset + len(text[:start].encode()), text[start:stop])
