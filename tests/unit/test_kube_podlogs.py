"""A worker pod that died before its last log chunk: its log is completed from the pod's own
log (`executor.kubernetes.podlogs`), the counterpart of the local executor's spool sweep."""

from __future__ import annotations

from pathlib import Path

from brisa.executor.kubernetes.podlogs import complete_worker_log, missing_tail
from brisa.logs import layout
from brisa.objectstore import open_object_store

ATTEMPT = ("data", "etl", "manual__1", "load", 1)
LINES = b"".join(f"2026-12-07T03:00:0{i}Z line {i}\n".encode() for i in range(8))


def test_the_tail_is_what_follows_the_shipped_bytes_even_after_earlier_output() -> None:
    shipped, rest = LINES[:100], LINES[100:]
    assert missing_tail(shipped, b"before the capture started\n" + LINES) == rest
    assert missing_tail(b"", LINES) == LINES


def test_a_log_cut_short_is_completed_from_the_pods_log_once(tmp_path: Path) -> None:
    store = open_object_store(f"file://{tmp_path}")
    prefix = layout.attempt_prefix(*ATTEMPT)
    store.put(layout.chunk_key(prefix, 1), LINES[:60])  # shipped before the pod died

    recovered = complete_worker_log(store, prefix, LINES, 1 << 20, pod="brisa-data-7-1")

    text, _ = layout.read(store, prefix)
    assert recovered == len(LINES) - 60
    assert text.startswith(LINES)
    assert "the executor shipped the last" in text.decode().splitlines()[-1]
    assert [o.key for o in store.list(prefix)] == [prefix + layout.FULL]
    assert complete_worker_log(store, prefix, LINES, 1 << 20, pod="brisa-data-7-1") is None
