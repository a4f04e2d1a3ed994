"""Memory limits as a kubelet enforces them, for the fake kubelet (opt-in:
`FakeCluster(memory_cgroups=True)`): a container with `resources.limits.memory` runs in a
memory cgroup of its own with that limit and no swap, so the kernel's OOM killer really ends
what allocates past it, and the worker inside sees its own cgroup's `oom_kill` counter
(`brisa.worker.oomwatch`). Needs root and a writable memory controller (cgroup v2 with
`memory` enabled, or v1's memory hierarchy on a hybrid host); `available()` says whether.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

from brisa.core.quantity import parse

V1 = Path("/sys/fs/cgroup/memory")
V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


def _v2_root() -> Path | None:
    for root in V2_ROOTS:
        control = root / "cgroup.subtree_control"
        with contextlib.suppress(OSError):
            if "memory" in control.read_text().split():
                return root
    return None


def available() -> bool:
    return os.geteuid() == 0 and (_v2_root() is not None or (V1 / "memory.oom_control").exists())


def limit_bytes(container: dict[str, object]) -> int | None:
    """The container's memory limit in bytes, None without one."""
    resources = container.get("resources") or {}
    limits = resources.get("limits") if isinstance(resources, dict) else None
    value = limits.get("memory") if isinstance(limits, dict) else None
    return None if value is None else int(parse(str(value), "memory"))


class MemoryCgroup:
    """One container's cgroup; `wrap(argv)` starts a command inside it."""

    def __init__(self, limit: int) -> None:
        name = f"brisa-fake-kubelet-{uuid.uuid4().hex[:12]}"
        v2 = _v2_root()
        self.folder = (v2 or V1) / name
        self.folder.mkdir()
        if v2 is not None:
            (self.folder / "memory.max").write_text(str(limit))
            with contextlib.suppress(OSError):
                (self.folder / "memory.swap.max").write_text("0")
        else:
            (self.folder / "memory.limit_in_bytes").write_text(str(limit))
            with contextlib.suppress(OSError):  # without swap accounting there is no swap
                (self.folder / "memory.memsw.limit_in_bytes").write_text(str(limit))

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv`, joining the cgroup first (as the runtime puts a container's process)."""
        procs = self.folder / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *argv]

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (a few tries while they exit)."""
        for _ in range(50):
            try:
                self.folder.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
