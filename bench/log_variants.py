"""The log path taken apart: `python -m bench.log_variants [N] [ROUNDS]` (root: cgroup v1).

Not part of the suite (docs/adr/0013-log-path-per-attempt.md). A process holding the fork
server's preloads forks one "worker" per sample, which joins a cpuacct cgroup of its own and
runs one variant; the sample is that cgroup's CPU until every process in it is gone, and the
worker's wall time (for the `chatty` variants: the seconds its printing of 10 MB took).

- nothing: the worker exits. fork: it forks a child that exits (what a log process costs
  before doing anything).
- spool-only: the spool and shipping work, synchronously, no threads, no pipe.
- in-process: the log process's threads (reader, spooler, shipper) in the worker itself, fed
  through a pipe: a log thread instead of a log process.
- process: `LogShipper`, as the worker uses it (a forked log process).
- chatty-*: the task prints 10 MB in 100-byte lines; not captured (a file), captured by the
  log process, captured by threads of the worker.
"""

from __future__ import annotations

import importlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from brisa.executor.local.forkserver import PRELOAD

for _name in PRELOAD:
    importlib.import_module(_name)

from brisa.logs.capture import (  # noqa: E402
    Backlog,
    Reader,
    Spool,
    redirect_output,
    restore_output,
    spool_path,
)
from brisa.logs.config import ShippingConfig  # noqa: E402
from brisa.logs.masking import Masker  # noqa: E402
from brisa.logs.shipper import Shipper  # noqa: E402
from brisa.logs.shipping import LogShipper  # noqa: E402

CGROUP_ROOT = Path("/sys/fs/cgroup/cpuacct")
CHATTY_BYTES = 10_000_000


class Bench:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = ShippingConfig(location=f"file://{folder / 'store'}")
        self.group = CGROUP_ROOT / f"brisa-logvariants-{os.getpid()}"

    def attempt(self, i: int) -> tuple[str, str, str, str, int]:
        return ("default", "d", f"r{i}", "t", 1)

    # -- the variants (each runs in a forked worker) --
    def nothing(self, i: int) -> None:
        pass

    def fork(self, i: int) -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    def spool_only(self, i: int) -> None:
        spool = Spool(spool_path(os.getpid()), Masker(["tok"]))
        shipper = Shipper(spool, self.config, open_store=self.config.open_store, origin=0.0)
        spool.record_attempt(self.attempt(i))
        shipper.begin(self.attempt(i))
        spool.write(b"hello\n")
        spool.finish()
        shipper.finish()
        spool.discard()

    def in_process(self, i: int, task: Callable[[], None] | None = None) -> None:
        spool = Spool(spool_path(os.getpid()), Masker(["tok"]))
        shipper = Shipper(
            spool, self.config, open_store=self.config.open_store, origin=time.monotonic()
        )
        backlog = Backlog(spool, shipper.poke)
        read_end, write_end = os.pipe()
        reader = Reader(read_end, backlog.put)
        for started in (shipper, backlog, reader):
            started.start()
        spool.record_attempt(self.attempt(i))
        shipper.begin(self.attempt(i))
        saved = redirect_output(write_end)
        os.close(write_end)
        (task or self.hello)()
        restore_output(saved)
        reader.ending()
        reader.join(2.0)
        backlog.close(2.0)
        spool.finish()
        shipper.close(60.0)
        spool.discard()

    def process(self, i: int, task: Callable[[], None] | None = None) -> None:
        shipper = LogShipper(self.config, spool_path(os.getpid()), ["tok"]).start()
        shipper.begin(self.attempt(i), [])
        (task or self.hello)()
        shipper.close(60.0)

    def chatty_not_captured(self, i: int) -> None:
        self.chatty()

    def chatty_process(self, i: int) -> None:
        self.process(i, self.chatty)

    def chatty_in_process(self, i: int) -> None:
        self.in_process(i, self.chatty)

    # -- the task bodies --
    def hello(self) -> None:
        os.write(1, b"hello\n")

    def chatty(self) -> None:
        filler = "x" * 86
        started = time.perf_counter()
        for k in range(CHATTY_BYTES // 100):
            print(f"line {k:07d} {filler}")
        sys.stdout.flush()
        (self.folder / "elapsed").write_text(repr(time.perf_counter() - started))

    # -- measuring --
    def sample(self, variant: Callable[[int], None], i: int) -> tuple[float, float]:
        """CPU ms of everything the worker started, and its wall ms (or the printing's)."""
        before = int((self.group / "cpuacct.usage").read_text())
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))
            try:
                variant(i)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        wall = (time.perf_counter() - started) * 1000
        while (self.group / "cgroup.procs").read_text().split():
            time.sleep(0.0005)
        cpu = (int((self.group / "cpuacct.usage").read_text()) - before) / 1e6
        elapsed = self.folder / "elapsed"
        if elapsed.exists():
            wall = float(elapsed.read_text()) * 1000
            elapsed.unlink()
        return cpu, wall


def main(argv: list[str]) -> int:
    samples = int(argv[0]) if argv else 20
    rounds = int(argv[1]) if len(argv) > 1 else 3
    report = os.fdopen(os.dup(2), "w", buffering=1)
    with tempfile.TemporaryDirectory(prefix="brisa-logvariants-") as tmp:
        bench = Bench(Path(tmp))
        with open(bench.folder / "executor.log", "ab") as out:  # the worker's fds 1 and 2
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
        variants = ["nothing", "fork", "spool_only", "in_process", "process"]
        chatty = ["chatty_not_captured", "chatty_process", "chatty_in_process"]
        bench.group.mkdir()
        try:
            for _ in range(rounds):
                for name in [*variants, *chatty]:
                    n = max(samples // 5, 1) if name.startswith("chatty") else samples
                    found = [bench.sample(getattr(bench, name), i) for i in range(n)]
                    cpu = statistics.median(c for c, _ in found)
                    wall = statistics.median(w for _, w in found)
                    print(f"{name:20} n={n:3} CPU {cpu:8.2f} ms  wall {wall:8.2f} ms", file=report)
        finally:
            bench.group.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
