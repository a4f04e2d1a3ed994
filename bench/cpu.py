"""W2's CPU per attempt, every process counted, and who spent it.

A per-process sum of `/proc/PID/stat` misses most of a fan-out's CPU: the fork server ignores
SIGCHLD, so the kernel reaps its workers and their CPU never reaches any parent's `cutime`;
a worker's log process outlives it and is reaped by init. So:

- the total is the `usage_usec` of a cgroup v2 of the bench's own (`brisa-bench-<pid>-<n>`
  under the cgroup2 mount), into which the standalone is moved right after its launch:
  everything it starts afterwards (fork server, workers, their log processes, DAG parsers)
  is born in it, and the cgroup keeps counting what its exited processes used;
- the main process (scheduler, execution API, DAG processor: threads of one process) and the
  fork server are read while they live: the sum of `/proc/PID/task/*/schedstat` (ns);
- the workers' CPU is what each of their threads had used when it exited, as the kernel's
  taskstats interface (generic netlink, `TASKSTATS_CMD_ATTR_REGISTER_CPUMASK`) reports it
  (`cpu_run_virtual_total`, ns): a worker is a process whose parent is the fork server;
- the rest of the total is the log processes' (and any other short-lived process's, such as
  a DAG parser's; none runs during a fan-out).

Both need root (writing into the cgroup tree, registering for taskstats); without them the
figures are left out with a note, and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections import Counter
from pathlib import Path

from brisa.executor.local.warm import WARM_NAME
from brisa.logs.server import LOG_SERVER_NAME

_GENERIC = 16  # NETLINK_GENERIC
_CTRL_ID, _GET_FAMILY, _FAMILY_ID, _FAMILY_NAME = 0x10, 3, 1, 2
_TS_GET, _TS_REGISTER, _TS_DEREGISTER = 1, 3, 4  # command; cpumask attributes
_TS_STATS, _TS_AGGR_PID = 3, 4  # struct taskstats; a task's exit record (nested)
_PID_AT, _PPID_AT, _CPU_NS_AT = 128, 132, 72  # offsets in struct taskstats (version >= 8)
_MINFLT_AT = 168  # ac_minflt: the thread's minor page faults (copy-on-write copies among them)


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("HH", length, kind) + data + b"\0" * (-length % 4)


def _attrs(data: bytes) -> dict[int, list[bytes]]:
    found: dict[int, list[bytes]] = {}
    at = 0
    while at + 4 <= len(data):
        length, kind = struct.unpack_from("HH", data, at)
        if length < 4:
            break
        found.setdefault(kind & 0x3FFF, []).append(data[at + 4 : at + length])
        at += (length + 3) & ~3
    return found


def _request(family: int, command: int, payload: bytes) -> bytes:
    body = struct.pack("BBH", command, 1, 0) + payload
    return struct.pack("IHHII", 16 + len(body), family, 1, 0, 0) + body  # NLM_F_REQUEST


class ExitListener:
    """CPU and minor page faults of every thread that exits on this machine, summed by the
    pid of its parent process, from the moment it is opened. A task's record is sent before
    its memory is torn down: what its exit costs is not in it (W2 counts it in the rest)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _GENERIC)
        self._sock.bind((0, 0))
        self._sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root)
        self._sock.send(_request(_CTRL_ID, _GET_FAMILY, _attr(_FAMILY_NAME, b"TASKSTATS\0")))
        reply = _attrs(self._sock.recv(65536)[20:])
        self._family = struct.unpack("H", reply[_FAMILY_ID][0][:2])[0]
        self._cpus = f"0-{(os.cpu_count() or 1) - 1}\0".encode()
        self._sock.send(_request(self._family, _TS_GET, _attr(_TS_REGISTER, self._cpus)))
        self._by_parent: Counter[int] = Counter()
        self._faults: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        while not self._closed:
            try:
                data = self._sock.recv(1 << 16)
            except OSError:
                return
            at = 0
            while at + 16 <= len(data):
                length = struct.unpack_from("I", data, at)[0]
                if length < 16:
                    break
                self._record(data[at + 20 : at + length])
                at += (length + 3) & ~3

    def _record(self, payload: bytes) -> None:
        for nested in _attrs(payload).get(_TS_AGGR_PID, []):
            for stats in _attrs(nested).get(_TS_STATS, []):
                if len(stats) >= _MINFLT_AT + 8:
                    ppid = struct.unpack_from("I", stats, _PPID_AT)[0]
                    ns = struct.unpack_from("Q", stats, _CPU_NS_AT)[0]
                    faults = struct.unpack_from("Q", stats, _MINFLT_AT)[0]
                    with self._lock:
                        self._by_parent[ppid] += ns
                        self._faults[ppid] += faults

    def take(self, parent: int) -> int:
        """ns used by the exited threads of processes whose parent was `parent`, since the
        last `take` (or since opening)."""
        with self._lock:
            return self._by_parent.pop(parent, 0)

    def take_faults(self, parent: int) -> int:
        """Minor page faults of the exited threads of processes whose parent was `parent`,
        since the last `take_faults` (or since opening)."""
        with self._lock:
            return self._faults.pop(parent, 0)

    def reset(self) -> None:
        with self._lock:
            self._by_parent.clear()
            self._faults.clear()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.send(_request(self._family, _TS_GET, _attr(_TS_DEREGISTER, self._cpus)))
        self._sock.close()


def _cgroup2_mount() -> Path | None:
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2" and os.access(fields[1], os.W_OK):
            return Path(fields[1])
    return None


class CpuGroup:
    """A cgroup v2 of the bench's own: what its processes (and their exited ones) used."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, name: str) -> CpuGroup:
        """OSError (or RuntimeError without a writable cgroup2 mount) when not possible."""
        mount = _cgroup2_mount()
        if mount is None:
            raise RuntimeError("no writable cgroup2 mount (needs root and cgroup v2)")
        path = mount / name
        path.mkdir()
        group = cls(path)
        group.usage_ns()  # cpu.stat is there in every cgroup v2
        return group

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def pids(self) -> list[int]:
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]

    def usage_ns(self) -> int:
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "usage_usec":
                return int(value) * 1000
        raise RuntimeError(f"no usage_usec in {self.path}/cpu.stat")

    def remove(self, timeout: float = 10.0) -> None:
        """Once its processes are gone (the standalone stopped); leftovers go to the parent."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.path.rmdir()
                return
            except OSError:
                if time.monotonic() > deadline:
                    for pid in self.pids():
                        with contextlib.suppress(OSError):
                            (self.path.parent / "cgroup.procs").write_text(f"{pid}\n")
                    with contextlib.suppress(OSError):
                        self.path.rmdir()
                    return
                time.sleep(0.1)


def process_ns(pid: int) -> int:
    """CPU used so far by the live threads of a process (ns, from the scheduler)."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(OSError, ValueError, IndexError),
                open(f"{task.path}/schedstat") as f,
            ):
                total += int(f.read().split()[0])
    return total


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class InstanceCpu:
    """The CPU of one standalone's processes over a run, by kind of process."""

    def __init__(self, group: CpuGroup, exits: ExitListener | None, main: int) -> None:
        self.group, self.exits, self.main = group, exits, main
        self._start: dict[str, int] = {}
        self._warm_start: dict[int, int] = {}
        self._logs_start: dict[int, int] = {}
        self._forkserver = 0

    def forkserver(self) -> int:
        """The worker fork server's pid (0: not running)."""
        for pid in self.group.pids():
            if b"brisa.executor.local.forkserver" in _cmdline(pid):
                return pid
        return 0

    def warm(self) -> list[int]:
        """The fork server's warm processes (ADR 0014): long-lived, named `brisa-warm`."""
        return [pid for pid in self.group.pids() if _comm(pid) == WARM_NAME]

    def _logs(self) -> list[int]:
        return [pid for pid in self.group.pids() if _comm(pid) == LOG_SERVER_NAME]

    def quiet(self, timeout: float = 60.0) -> None:
        """Wait until only the main process, the fork server, its warm processes and its log
        server (ADR 0025, idle between runs) are left: the last workers and log processes
        have exited (and their exit records arrived)."""
        deadline = time.monotonic() + timeout
        while set(self.group.pids()) - {self.main, self._forkserver, *self.warm(), *self._logs()}:
            if time.monotonic() > deadline:
                raise TimeoutError("workers still running long after the run ended")
            time.sleep(0.02)
        time.sleep(0.2)  # exit records of the last threads are on their way

    def begin(self) -> None:
        self._forkserver = self.forkserver()
        self.quiet()
        if self.exits is not None:
            self.exits.reset()
        self._start = {
            "total": self.group.usage_ns(),
            "main": process_ns(self.main),
            "forkserver": process_ns(self._forkserver) if self._forkserver else 0,
        }
        self._warm_start = {pid: process_ns(pid) for pid in self.warm()}
        self._logs_start = {pid: process_ns(pid) for pid in self._logs()}

    def end(self) -> dict[str, float]:
        """ms spent since `begin`: total, main, forkserver, the log server (ADR 0025), and
        with exit records, workers and logs (the rest of the total: the log server, the
        workers' exits, any other short-lived process), and the workers' minor page faults
        (a count, not ms)."""
        forkserver = self._forkserver
        self._forkserver = self.forkserver()
        if self._forkserver != forkserver:  # (re)started during the run: count it all
            self._start["forkserver"] = 0
        self.quiet()
        spent = {
            "total": self.group.usage_ns() - self._start["total"],
            "main": process_ns(self.main) - self._start["main"],
            "forkserver": process_ns(self._forkserver) - self._start["forkserver"],
        }
        # Warm processes count with the fork server (their import, their forks); the workers
        # they fork are workers. One that ended during the run is in the rest, with its forks.
        warm = self.warm()
        spent["forkserver"] += sum(process_ns(p) - self._warm_start.get(p, 0) for p in warm)
        spent["logserver"] = sum(process_ns(p) - self._logs_start.get(p, 0) for p in self._logs())
        faults = 0
        if self.exits is not None:
            spent["main"] += self.exits.take(os.getpid())  # its threads that ended
            spent["workers"] = self.exits.take(self._forkserver)
            spent["workers"] += sum(self.exits.take(pid) for pid in warm)
            spent["logs"] = spent["total"] - spent["main"] - spent["forkserver"]
            spent["logs"] -= spent["workers"]
            faults = self.exits.take_faults(self._forkserver)
            faults += sum(self.exits.take_faults(pid) for pid in warm)
        figures = {kind: ns / 1e6 for kind, ns in spent.items()}
        if self.exits is not None:
            figures["worker_faults"] = float(faults)
        return figures


class Counting:
    """The cgroup and exit listener of one standalone session, or None for each that this
    machine (or user) does not allow; `notes` says what is left out and why."""

    def __init__(self, name: str, notes: list[str]) -> None:
        self.group: CpuGroup | None = None
        self.exits: ExitListener | None = None
        try:
            self.group = CpuGroup.create(name)
        except (OSError, RuntimeError) as exc:
            _note(notes, f"W2 CPU per attempt not measured: no cgroup of our own ({exc})")
            return
        try:
            self.exits = ExitListener()
        except (OSError, KeyError, struct.error) as exc:
            _note(
                notes, f"W2 CPU of workers and log processes not told apart: no taskstats ({exc})"
            )

    def watch(self, main: int) -> InstanceCpu | None:
        """Count the standalone `main` and what it starts from now on."""
        if self.group is None:
            return None
        self.group.add(main)
        return InstanceCpu(self.group, self.exits, main)

    def close(self) -> None:
        if self.exits is not None:
            self.exits.close()
        if self.group is not None:
            self.group.remove()


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)
