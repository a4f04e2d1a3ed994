"""Naming an OOM kill inside a task (K5, `worker/oomwatch.py`): where a process's memory cgroup
is (cgroup v2, v1, a hybrid host), its counter and limit read, and the note the attempt's error
starts with when the counter grew."""

from __future__ import annotations

from pathlib import Path

import pytest

from brisa.worker import oomwatch
from brisa.worker.main import _oom_named
from brisa.worker.oomwatch import MemoryCgroup, Reading, locate, oom_note
from brisa.worker.runner import Outcome

# A pod's container on a cgroup v2 node (the cgroup namespace makes its cgroup "/").
POD_CGROUP = "0::/\n"
POD_MOUNTS = "1310 1300 0:30 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw,nsdelegate\n"
# A hybrid host (this project's CI machine): memory still on v1, v2 holds no controller.
HYBRID_CGROUP = "9:name=systemd:/\n4:memory:/process_api/721e\n1:cpu:/\n0::/\n"
HYBRID_MOUNTS = (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)


def test_a_pods_container_reads_its_v2_memory_events_and_max() -> None:
    found = locate(POD_CGROUP, POD_MOUNTS, lambda path: True)
    assert found == MemoryCgroup(
        Path("/sys/fs/cgroup/memory.events"), Path("/sys/fs/cgroup/memory.max")
    )


def test_a_hybrid_host_falls_back_to_the_v1_memory_controller() -> None:
    v1_only = lambda path: "unified" not in str(path)  # noqa: E731 - v2 has no memory files
    found = locate(HYBRID_CGROUP, HYBRID_MOUNTS, v1_only)
    folder = Path("/sys/fs/cgroup/memory/process_api/721e")
    assert found == MemoryCgroup(folder / "memory.oom_control", folder / "memory.limit_in_bytes")


def test_no_memory_cgroup_is_none() -> None:
    assert locate(HYBRID_CGROUP, HYBRID_MOUNTS, lambda path: False) is None
    assert locate("", "", lambda path: True) is None


def test_counters_and_limits_are_read_as_the_kernel_writes_them(tmp_path: Path) -> None:
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n")
    limit = tmp_path / "memory.max"
    limit.write_text("536870912\n")
    assert MemoryCgroup(events, limit).read() == Reading(2, 512 << 20)
    limit.write_text("max\n")
    assert MemoryCgroup(events, limit).read() == Reading(2, None)
    limit.write_text("9223372036854771712\n")  # v1's "no limit"
    assert MemoryCgroup(events, limit).read() == Reading(2, None)
    events.write_text("oom_kill_disable 0\nunder_oom 0\n")  # a kernel before 4.13: no counter
    assert MemoryCgroup(events, limit).read() is None
    assert MemoryCgroup(tmp_path / "gone", limit).read() is None


@pytest.mark.parametrize(
    ("before", "after", "note"),
    [
        (Reading(0, 512 << 20), Reading(0, 512 << 20), None),
        (
            Reading(0, 512 << 20),
            Reading(1, 512 << 20),
            "OOMKilled (container base, limit 512Mi; 1 process killed by the OOM killer)",
        ),
        (
            Reading(3, None),
            Reading(5, None),
            "OOMKilled (container base, no memory limit; 2 processes killed by the OOM killer)",
        ),
        (None, Reading(5, None), None),  # not readable before: nothing can be said
    ],
)
def test_the_note_says_an_oom_kill_happened_during_the_task(
    before: Reading | None, after: Reading | None, note: str | None
) -> None:
    assert oom_note("base", before, after) == note


def test_the_note_carries_the_commands_exit_code_as_the_executor_words_a_killed_container() -> None:
    note = oom_note("base", Reading(0, 512 << 20), Reading(1, 512 << 20), exit_code=137)
    assert (
        note
        == "OOMKilled (container base, exit 137, limit 512Mi; 1 process killed by the OOM killer)"
    )


def test_a_failed_task_is_named_oomkilled_and_a_surviving_one_keeps_its_success() -> None:
    note = "OOMKilled (container base, exit 137, limit 64Mi; 1 process killed by the OOM killer)"
    failed = _oom_named(Outcome(False, error="command exited with code 137"), note)
    assert failed.error == f"{note}: command exited with code 137" and not failed.success
    survived = _oom_named(Outcome(True, return_value=3), note)
    assert survived == Outcome(True, return_value=3)
    assert _oom_named(Outcome(False, error="boom"), None).error == "boom"


def test_quantities_read_as_kubernetes_writes_them() -> None:
    assert [oomwatch.quantity(n) for n in (2 << 30, 512 << 20, 1536, 1000)] == [
        "2Gi",
        "512Mi",
        "1536",
        "1000",
    ]


def test_a_worker_outside_its_own_cgroup_does_not_look() -> None:
    assert oomwatch.watch({}) is None  # the local executor: attempts share a cgroup
