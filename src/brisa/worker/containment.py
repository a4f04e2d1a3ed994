"""Containing the processes of an attempt, and of a DAG file's parse: none outlives it.

A worker leads a process group of its own, and the executor kills that group when the attempt
is stopped or ends. A process that leaves the group — `setsid`, a daemon's double fork — would
escape that kill and run on forever. So the worker, like the DAG-parsing child, makes itself a
*child subreaper* (Linux's `PR_SET_CHILD_SUBREAPER`): a descendant whose parent dies is then
re-parented to it instead of to init, and every process the attempt started stays among its
descendants for as long as it runs. It kills them all before it exits and when it is stopped
(SIGTERM); the executor and the DAG processor kill the descendants of a worker or parse that
does not stop in time, while it still runs, before they kill its group.

The limit: when the worker itself is killed from outside with SIGKILL (the OOM killer, `kill -9`
of the worker alone), what left its group is re-parented to init (or to a subreaper above it)
and is out of reach; what stayed in its group is still killed by the executor.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import threading
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


@functools.cache
def _prctl() -> Any:
    """libc's `prctl`, looked up once (the fork server does it before forking workers);
    None where there is none (not Linux)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def become_subreaper() -> bool:
    """Make this process the parent of its orphaned descendants; False where the system does
    not allow it (not Linux)."""
    prctl = _prctl()
    return prctl is not None and bool(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def prepare() -> None:
    """What a process about to fork workers looks up once for all of them."""
    _prctl()
    _children_files()


def _read(path: str) -> bytes:
    """A /proc file's bytes, without Python's file objects (OSError once its process is
    gone)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts = []
        while part := os.read(fd, 1 << 16):
            parts.append(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def _stat(pid: int | str) -> tuple[str, int] | None:
    """A process's state letter and parent pid, from /proc; None once it is gone."""
    try:
        fields = _read(f"/proc/{pid}/stat").rsplit(b")", 1)[-1].split(None, 3)
    except OSError:
        return None
    return fields[0].decode(), int(fields[1])


@functools.cache
def _children_files() -> bool:
    """Whether the kernel lists a process's children in /proc/PID/task/TID/children (cheap to
    read); without them the whole process table is read."""
    return os.path.exists(f"/proc/self/task/{threading.get_native_id()}/children")


def _children_of(pid: int) -> list[int]:
    """`pid`'s children, from /proc/PID/task/*/children."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                children += [int(c) for c in _read(f"/proc/{pid}/task/{tid}/children").split()]
    return children


def _children_table() -> dict[int, list[int]]:
    """Parent pid -> children, over the whole process table."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _stat(name)
            if stat is not None:
                children.setdefault(stat[1], []).append(int(name))
    return children


def descendants(pid: int) -> list[int]:
    """The live (not zombie) descendants of `pid`, parents before their children."""
    table = None if _children_files() else _children_table()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child in _children_of(parent) if table is None else table.get(parent, []):
            stat = _stat(child)
            if stat is not None and stat[0] not in ("Z", "X"):
                found.append(child)
                todo.append(child)
    return found


def kill_descendants(pid: int, timeout: float = 2.0) -> int:
    """SIGKILL every descendant of `pid`, again until none is left (a killed process's orphans
    are re-parented to `pid` when it is their subreaper; a process may fork meanwhile), for up
    to `timeout` seconds. Returns how many processes were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while (found := descendants(pid)) and time.monotonic() < deadline:
        for child in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        killed.update(found)
        time.sleep(0.01)  # SIGKILL takes effect soon, not synchronously
    return len(killed)
