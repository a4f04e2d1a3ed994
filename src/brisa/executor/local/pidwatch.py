"""Which of the local executor's workers exited, told by the kernel (pidfds), not by /proc.

The executor asks at every scheduling pass which attempts are alive. Reading each worker's
`/proc/PID/stat` costs an open, a read and a close per worker per pass (about 6 % of a pass
in a chain of light tasks, docs/benchmarks.md "s22-schedraw"). A pidfd (Linux 5.3+) refers
to one process for as long as it is open, whatever pid is recycled later, and becomes
readable when that process exits (a zombie counts as exited, as `process_start_time` counts
it): one `poll` answers for every worker at once. A worker whose pidfd cannot be opened
(an older kernel, no descriptor left) is not watched here, and the executor reads /proc for
it as before.
"""

from __future__ import annotations

import contextlib
import os
import select

from brisa.core.records import AttemptRef


class PidWatch:
    def __init__(self) -> None:
        self._poll = select.poll()
        self._fds: dict[AttemptRef, int] = {}
        self._refs: dict[int, AttemptRef] = {}

    def watch(self, ref: AttemptRef, pid: int) -> bool:
        """Watch `pid` as the worker of `ref` (opened before the caller reads the process's
        start time, so that the pidfd is known to be that process); False: not watched."""
        self.forget(ref)
        opener = getattr(os, "pidfd_open", None)
        if opener is None:
            return False
        try:
            fd: int = opener(pid)
        except OSError:  # gone already, no descriptor left, or no pidfds here
            return False
        self._fds[ref], self._refs[fd] = fd, ref
        self._poll.register(fd, select.POLLIN)
        return True

    def watching(self, ref: AttemptRef) -> bool:
        return ref in self._fds

    def exited(self) -> set[AttemptRef]:
        """The watched workers that exited (still watched until `forget`)."""
        if not self._fds:
            return set()
        return {self._refs[fd] for fd, _ in self._poll.poll(0)}

    def forget(self, ref: AttemptRef) -> None:
        fd = self._fds.pop(ref, None)
        if fd is None:
            return
        del self._refs[fd]
        self._poll.unregister(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def close(self) -> None:
        for ref in list(self._fds):
            self.forget(ref)
