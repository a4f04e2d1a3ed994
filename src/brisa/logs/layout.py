"""Task logs in the object store: where an attempt's log lives and how it is read back.

A running worker ships its log as numbered chunks under the attempt's prefix
(`<team>/<dag>/<run>/<task>/attempt=<n>/00000001.log`, ...); when it ends it writes the whole
log as `full.log` and removes the chunks. Readers see one byte stream either way: the chunks
in order, or `full.log`. Offsets are byte offsets into that stream, so a client can follow a
running task by asking again from the offset it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from brisa.errors import NotFound
from brisa.objectstore import ObjectInfo, ObjectStore

FULL = "full.log"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+:=-]+")
_ESCAPED = re.compile(r"~([0-9A-F]{2})")
_CHUNK = re.compile(r"^(\d{8})\.log$")
_FETCHERS = 16  # chunks fetched at once by a reader


def _escape(text: str) -> str:
    return "".join(f"~{byte:02X}" for byte in text.encode("utf-8", "surrogatepass"))


def encode_part(part: str) -> str:
    """One id as one path component, reversibly (`decode_part`): letters, digits and
    `_ . + : = -` stay as they are (so keys written before this encoding are still found),
    every other character becomes `~XX` per UTF-8 byte (`café` → `caf~C3~A9`; `~` is never
    safe, so nothing else can read as an escape). `.`, `..` and the empty id, which a path
    cannot hold, are escaped whole (`.` → `~2E`, the empty id → `~`)."""
    if part in (".", ".."):
        return _escape(part)
    return _UNSAFE.sub(lambda m: _escape(m.group(0)), part) or "~"


def decode_part(encoded: str) -> str:
    """The id `encode_part` turned into `encoded`."""
    if encoded == "~":
        return ""
    raw = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), encoded)
    return raw.encode("latin-1").decode("utf-8", "surrogatepass")


def attempt_prefix(team: str, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """`<team>/<dag>/<run>/<task>/attempt=<n>/`, each id encoded by `encode_part`."""
    parts = (team, dag_id, run_id, task_id)
    return "/".join(encode_part(p) for p in parts) + f"/attempt={try_number}/"


def chunk_key(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:08d}.log"


@dataclass(frozen=True)
class Segment:
    key: str
    start: int  # offset of its first byte in the attempt's log
    size: int


def chunk_number(prefix: str, key: str) -> int | None:
    """The sequence number of a chunk's key (None: not a chunk of that prefix)."""
    match = _CHUNK.match(key[len(prefix) :]) if key.startswith(prefix) else None
    return int(match.group(1)) if match else None


def segments(store: ObjectStore, prefix: str) -> list[Segment]:
    """The pieces of an attempt's log, in order: `full.log` alone, else the chunks."""
    return segments_of(prefix, store.list(prefix))


def segments_of(prefix: str, objects: list[ObjectInfo]) -> list[Segment]:
    """`segments`, from a listing of the prefix."""
    full = [o for o in objects if o.key == prefix + FULL]
    if full:
        return [Segment(full[0].key, 0, full[0].size)]
    chunks = sorted(
        (o for o in objects if chunk_number(prefix, o.key) is not None), key=lambda o: o.key
    )
    out, start = [], 0
    for chunk in chunks:
        out.append(Segment(chunk.key, start, chunk.size))
        start += chunk.size
    return out


def read(
    store: ObjectStore, prefix: str, offset: int = 0, limit: int = 1024 * 1024
) -> tuple[bytes, int]:
    """Up to `limit` bytes of the log from `offset`; returns them and the next offset.

    A page that fills `limit` ends after its last newline (or, without one, before a cut
    UTF-8 character), so pages decode cleanly; the next page starts where this one ended.
    Memory stays bounded by `limit` whatever the size of the log.
    """
    try:  # a finished log is one object: one request, no listing of the attempt
        data = store.get(prefix + FULL, offset, offset + limit)
    except NotFound:
        try:
            data = _read_chunks(store, prefix, offset, limit)
        except NotFound:  # the worker replaced its chunks by full.log since they were listed
            data = _read_chunks(store, prefix, offset, limit)
    if len(data) >= limit:
        data = data[: _page_end(data)]
    return data, offset + len(data)


def _read_chunks(store: ObjectStore, prefix: str, offset: int, limit: int) -> bytes:
    pieces, size = [], 0
    for seg in segments(store, prefix):
        if seg.start + seg.size <= offset or size >= limit:
            continue
        lo = max(offset, seg.start) - seg.start
        hi = min(seg.size, lo + limit - size)
        pieces.append((seg.key, lo, hi))
        size += hi - lo
    if len(pieces) <= 1:
        return b"".join(store.get(*piece) for piece in pieces)
    # Many small chunks (a busy task, or a worker killed before writing full.log): fetch them
    # side by side, since each is a round trip to the store. (Imported here: the fork server
    # preloads this module for its log server, and every worker is forked from its memory.)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(pieces), _FETCHERS)) as pool:
        return b"".join(pool.map(lambda piece: store.get(*piece), pieces))


def _page_end(data: bytes) -> int:
    """Where a full page should end: after its last newline, else after its last whole
    UTF-8 character (the whole page if that would leave nothing, e.g. binary output)."""
    newline = data.rfind(b"\n")
    if newline >= 0:
        return newline + 1
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:  # ASCII: the page already ends on a whole character
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= needed else (len(data) - back or len(data))
    return len(data)
