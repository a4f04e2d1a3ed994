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

from brisa.objectstore import ObjectStore

FULL = "full.log"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+:=-]")
_CHUNK = re.compile(r"^(\d{8})\.log$")


def _safe(part: str) -> str:
    part = _UNSAFE.sub("_", part)
    return "_" if part in ("", ".", "..") else part


def attempt_prefix(team: str, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    parts = (team, dag_id, run_id, task_id)
    return "/".join(_safe(p) for p in parts) + f"/attempt={try_number}/"


def chunk_key(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:08d}.log"


@dataclass(frozen=True)
class Segment:
    key: str
    start: int  # offset of its first byte in the attempt's log
    size: int


def segments(store: ObjectStore, prefix: str) -> list[Segment]:
    """The pieces of an attempt's log, in order: `full.log` alone, else the chunks."""
    objects = store.list(prefix)
    full = [o for o in objects if o.key == prefix + FULL]
    if full:
        return [Segment(full[0].key, 0, full[0].size)]
    chunks = sorted((o for o in objects if _CHUNK.match(o.key[len(prefix) :])), key=lambda o: o.key)
    out, start = [], 0
    for chunk in chunks:
        out.append(Segment(chunk.key, start, chunk.size))
        start += chunk.size
    return out


def read(
    store: ObjectStore, prefix: str, offset: int = 0, limit: int = 1024 * 1024
) -> tuple[bytes, int]:
    """Up to `limit` bytes of the log from `offset`; returns them and the next offset.

    Memory stays bounded by `limit` whatever the size of the log.
    """
    data = bytearray()
    for seg in segments(store, prefix):
        end = seg.start + seg.size
        if end <= offset or len(data) >= limit:
            continue
        lo = max(offset, seg.start) - seg.start
        hi = min(seg.size, lo + limit - len(data))
        data += store.get(seg.key, lo, hi)
    return bytes(data), offset + len(data)
