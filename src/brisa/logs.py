"""Where attempt logs live and how they are read back (local folder for now).

The worker's stdout/stderr go to one file per attempt; readers page through it by byte
offset so a client can follow a running task without reading the whole file again.
"""

from __future__ import annotations

import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+:=-]")


def _safe(part: str) -> str:
    part = _UNSAFE.sub("_", part)
    return "_" if part in ("", ".", "..") else part


def attempt_log_path(
    folder: Path, team: str, dag_id: str, run_id: str, task_id: str, try_number: int
) -> Path:
    return (
        folder
        / _safe(team)
        / _safe(dag_id)
        / _safe(run_id)
        / _safe(task_id)
        / f"attempt={try_number}.log"
    )


def read_log(path: Path, offset: int = 0, limit: int = 1024 * 1024) -> tuple[str, int]:
    """Up to `limit` bytes from `offset`; returns the text and the offset to continue from."""
    try:
        with open(path, "rb") as f:
            f.seek(max(offset, 0))
            data = f.read(limit)
    except FileNotFoundError:
        return "", offset
    if len(data) == limit:  # do not cut a UTF-8 character in half
        cut = data.rfind(b"\n") + 1 or len(data)
        data = data[:cut]
    return data.decode(errors="replace"), offset + len(data)
