"""OOM kills inside a task, named (PLATFORM K5): a task whose child process the kernel's OOM
killer ended often fails with a bare "exit code 137" (or carries on without it). The worker
reads the OOM-kill counter of its own memory cgroup before and after the task; when it grew,
the attempt's error says "OOMKilled (...)" with the cgroup's memory limit.

Only meaningful when the cgroup is the attempt's own: a Kubernetes worker pod's container
(the manifest sets `OWN_CGROUP` to the container's name). Local workers share the
scheduler's cgroup, so a kill there may be another attempt's: they do not look
(docs/kubernetes.md).

Where the counter is: cgroup v2, `memory.events` (`oom_kill N`) and `memory.max` of the
process's cgroup (`0::/path` in /proc/self/cgroup) under the cgroup2 mount; cgroup v1 (or a
hybrid host whose memory controller is still v1), `memory.oom_control` (`oom_kill N`) and
`memory.limit_in_bytes` under the memory controller's mount. The parsing is pure; `find` and
`MemoryCgroup.read` are the reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

OWN_CGROUP = "BRISA_OWN_CGROUP"  # the container's name, when its cgroup is the attempt's own
UNLIMITED = 1 << 62  # cgroup v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages)


@dataclass(frozen=True)
class Reading:
    oom_kills: int
    limit: int | None  # bytes; None: no limit


@dataclass(frozen=True)
class MemoryCgroup:
    """One cgroup's memory files: `events` holds the `oom_kill` counter, `limit` the limit."""

    events: Path
    limit: Path

    def read(self) -> Reading | None:
        """The counter and the limit now; None when the files cannot be read."""
        try:
            kills = oom_kills(self.events.read_text())
            limit = parse_limit(self.limit.read_text())
        except (OSError, ValueError):
            return None
        return None if kills is None else Reading(kills, limit)


def oom_kills(text: str) -> int | None:
    """`oom_kill N` of a `memory.events` (v2) or `memory.oom_control` (v1) file."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def parse_limit(text: str) -> int | None:
    """`memory.max` ("max" or bytes) or `memory.limit_in_bytes` (bytes, huge when none)."""
    value = text.strip()
    if value == "max" or not value.isdigit() or int(value) >= UNLIMITED:
        return None
    return int(value)


def own_paths(proc_cgroup: str) -> tuple[str | None, str | None]:
    """(the v2 path, the v1 memory controller's path) of /proc/self/cgroup's lines."""
    v2 = v1 = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        number, controllers, path = parts
        if number == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def mounts(mountinfo: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(root, mount point) of every cgroup2 mount, and of every v1 mount with the memory
    controller, from /proc/self/mountinfo."""
    v2, v1 = [], []
    for line in mountinfo.splitlines():
        head, _, tail = line.partition(" - ")
        fields, kind = head.split(), tail.split()
        if len(fields) < 5 or len(kind) < 3:
            continue
        root, point = fields[3], fields[4]
        if kind[0] == "cgroup2":
            v2.append((root, point))
        elif kind[0] == "cgroup" and "memory" in kind[2].split(","):
            v1.append((root, point))
    return v2, v1


def _under(path: str, mounted: list[tuple[str, str]]) -> list[Path]:
    """Where `path` (as /proc/self/cgroup names it) is seen through each mount."""
    found = []
    for root, point in mounted:
        if path == root or path.startswith(root.rstrip("/") + "/") or root == "/":
            relative = path[len(root) :] if root != "/" else path
            found.append(Path(point) / relative.lstrip("/"))
    return found


def locate(
    proc_cgroup: str, mountinfo: str, exists: Callable[[Path], bool] = os.path.exists
) -> MemoryCgroup | None:
    """The process's memory cgroup: v2 when its memory files are there (the memory controller
    enabled), else v1's memory controller; None when neither is readable."""
    path_v2, path_v1 = own_paths(proc_cgroup)
    mounts_v2, mounts_v1 = mounts(mountinfo)
    check = exists
    if path_v2 is not None:
        for folder in _under(path_v2, mounts_v2):
            if check(folder / "memory.events"):
                return MemoryCgroup(folder / "memory.events", folder / "memory.max")
    if path_v1 is not None:
        for folder in _under(path_v1, mounts_v1):
            if check(folder / "memory.oom_control"):
                return MemoryCgroup(folder / "memory.oom_control", folder / "memory.limit_in_bytes")
    return None


def find() -> MemoryCgroup | None:
    """This process's memory cgroup (None outside Linux or without one)."""
    try:
        cgroup = Path("/proc/self/cgroup").read_text()
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    return locate(cgroup, mountinfo)


def quantity(size: int) -> str:
    """Bytes as Kubernetes writes a memory quantity: 512Mi, 2Gi, 1000."""
    for suffix, unit in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def oom_note(
    container: str, before: Reading | None, after: Reading | None, exit_code: int | None = None
) -> str | None:
    """`OOMKilled (container base, exit 137, limit 512Mi; 1 process killed by the OOM killer)`
    when the counter grew between the two readings (worded as the executor words a container
    the kernel killed, K5; the exit code when the task's command gave one); None otherwise (or
    when either is missing)."""
    if before is None or after is None or after.oom_kills <= before.oom_kills:
        return None
    kills = after.oom_kills - before.oom_kills
    processes = "1 process" if kills == 1 else f"{kills} processes"
    exit = "" if exit_code is None else f"exit {exit_code}, "
    limit = f"limit {quantity(after.limit)}" if after.limit else "no memory limit"
    return f"OOMKilled (container {container}, {exit}{limit}; {processes} killed by the OOM killer)"


class Watch:
    """The reading before a task, and the note once it is over."""

    def __init__(self, container: str, cgroup: MemoryCgroup) -> None:
        self.container, self.cgroup = container, cgroup
        self.before = cgroup.read()

    def note(self, exit_code: int | None = None) -> str | None:
        return oom_note(self.container, self.before, self.cgroup.read(), exit_code)


def watch(environ: Mapping[str, str]) -> Watch | None:
    """A watch of this process's cgroup when it is the attempt's own (`OWN_CGROUP`)."""
    container = environ.get(OWN_CGROUP, "")
    cgroup = find() if container else None
    return None if cgroup is None else Watch(container, cgroup)
