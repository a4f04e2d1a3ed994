"""The local executor: one OS process group per attempt, on this machine.

When an attempt's worker exits (or is killed), whatever is left in its process group — a
shell command's children, a daemon it started — is killed too.

It rebuilds its view of running workers from the process table (their command line names
the attempt and this executor's scope), so a restarted scheduler adopts the workers that
kept running instead of starting them twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from brisa.executor.base import LaunchRequest
from brisa.records import AttemptRef

_CMDLINE = re.compile(
    r"brisa\x00task\x00run\x00--ti\x00(\d+)\x00--try\x00(\d+)\x00--scope\x00(\S+?)\x00"
)


def scan_process_table(scope: str, proc: Path = Path("/proc")) -> dict[AttemptRef, int]:
    """Live workers of this scope found in /proc: attempt -> pid."""
    found: dict[AttemptRef, int] = {}
    for entry in proc.iterdir() if proc.exists() else []:
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace") + "\x00"
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        match = _CMDLINE.search(cmdline)
        # A zombie (state Z) has exited; its parent has not reaped it yet. A worker leads its
        # own session (process group id == pid); its log process, a fork with the same command
        # line, does not.
        fields = stat.rsplit(")", 1)[-1].split()
        if match and match.group(3) == scope and fields[0] != "Z" and fields[2] == entry.name:
            found[AttemptRef(int(match.group(1)), int(match.group(2)))] = int(entry.name)
    return found


MAX_LAUNCHES = 3


class LocalExecutor:
    def __init__(
        self,
        *,
        scope: str,
        parallelism: int,
        env: Mapping[str, str],
        kill_grace: float = 5.0,
        python: str = sys.executable,
    ) -> None:
        self.scope = scope
        self.parallelism = parallelism
        self.env = dict(env)
        self.kill_grace = kill_grace
        self.python = python
        self._children: dict[AttemptRef, subprocess.Popen[bytes]] = {}
        self._adopted: dict[AttemptRef, int] = scan_process_table(scope)
        self._launches: Counter[AttemptRef] = Counter()
        self._lock = threading.Lock()

    def launch(self, request: LaunchRequest) -> None:
        with self._lock:
            if request.ref in self._live_locked():
                return
            if self._launches[request.ref] >= MAX_LAUNCHES:
                # A worker that keeps dying before it starts: stop relaunching; the scheduler
                # fails the attempt after [scheduler] queued_timeout. Its log says why.
                return
            self._launches[request.ref] += 1
            request.log_path.parent.mkdir(parents=True, exist_ok=True)
            argv = [
                self.python,
                "-m",
                "brisa",
                "task",
                "run",
                "--ti",
                str(request.ref.ti_id),
                "--try",
                str(request.ref.try_number),
                "--scope",
                self.scope,
            ]
            env = {**os.environ, **self.env, "BRISA_EXECUTION_TOKEN": request.token}
            with open(request.log_path, "ab") as log:
                self._children[request.ref] = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )

    def _live_locked(self) -> dict[AttemptRef, int]:
        live: dict[AttemptRef, int] = {}
        for ref, child in list(self._children.items()):
            if child.poll() is None:
                live[ref] = child.pid
            else:
                del self._children[ref]
                _signal_group(child.pid, signal.SIGKILL)  # whatever the attempt left behind
                if child.returncode in (0, 1):  # it ran and reported: no relaunch to count
                    self._launches.pop(ref, None)
        for ref, pid in list(self._adopted.items()):
            if _pid_alive(pid):
                live[ref] = pid
            else:
                del self._adopted[ref]
                _signal_group(pid, signal.SIGKILL)
        return live

    def alive(self) -> frozenset[AttemptRef]:
        with self._lock:
            return frozenset(self._live_locked())

    def kill(self, ref: AttemptRef) -> None:
        with self._lock:
            pid = self._live_locked().get(ref)
        if pid is None:
            return
        _signal_group(pid, signal.SIGTERM)
        timer = threading.Timer(self.kill_grace, _signal_group, args=(pid, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        with self._lock:
            self._children.clear()
            self._adopted.clear()


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The worker leads its own session: signalling the group reaches its children too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
