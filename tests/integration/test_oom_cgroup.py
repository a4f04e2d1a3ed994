"""A real OOM kill of a task's child process is named (K5): a process in a memory cgroup of its
own (as a worker pod's container is), with a limit, starts a child that allocates past it; the
kernel's OOM killer ends the child (exit -9, the shell says 137) and the worker's note names
it, with the limit. Needs root and a writable memory cgroup (v2 with the memory controller, or
v1's memory controller as on a hybrid host); skipped otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

LIMIT = 128 << 20

SCRIPT = textwrap.dedent(
    """
    import subprocess, sys
    from brisa.worker import oomwatch
    from brisa.worker.main import _oom_named
    from brisa.worker.runner import Outcome

    watch = oomwatch.watch({oomwatch.OWN_CGROUP: "base"})
    assert watch is not None, "no memory cgroup found"
    hog = [sys.executable, "-c", "x = bytearray(1 << 30)"]
    code = subprocess.run(["sh", "-c", " ".join(hog[:2]) + ' "' + hog[2] + '"']).returncode
    failed = Outcome(False, error=f"command exited with code {code}", exit_code=code)
    outcome = _oom_named(failed, watch.note(failed.exit_code))
    print(outcome.error)
    """
)


def _v2_root() -> Path | None:
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        controllers = root / "cgroup.subtree_control"
        if controllers.exists() and "memory" in controllers.read_text().split():
            return root
    return None


@pytest.fixture
def cgroup() -> Iterator[Path]:
    """A new memory cgroup limited to LIMIT (its `cgroup.procs` to join it)."""
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup needs root")
    name = f"brisa-oom-test-{uuid.uuid4().hex[:8]}"
    v2, v1 = _v2_root(), Path("/sys/fs/cgroup/memory")
    if v2 is not None:
        folder, limit = v2 / name, "memory.max"
    elif (v1 / "memory.limit_in_bytes").exists():
        folder, limit = v1 / name, "memory.limit_in_bytes"
    else:
        pytest.skip("no memory cgroup controller on this machine")
    try:
        folder.mkdir()
        (folder / limit).write_text(str(LIMIT))
        # No swap to fall back on: the limit is the limit (v1 without memsw accounting: none).
        with_swap = folder / "memory.memsw.limit_in_bytes"
        if with_swap.exists():
            with_swap.write_text(str(LIMIT))
        if (folder / "memory.swap.max").exists():
            (folder / "memory.swap.max").write_text("0")
    except OSError as error:
        pytest.skip(f"cannot make a memory cgroup here: {error}")
    try:
        yield folder
    finally:
        folder.rmdir()


def test_a_child_killed_by_the_oom_killer_is_named_with_the_limit(cgroup: Path) -> None:
    join = f'echo $$ > {cgroup / "cgroup.procs"} && exec "$0" -c "$1"'
    done = subprocess.run(
        ["sh", "-c", join, sys.executable, SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "OOMKilled (container base, exit 137, limit 128Mi; 1 process killed by the OOM killer): "
        "command exited with code 137"
    )
