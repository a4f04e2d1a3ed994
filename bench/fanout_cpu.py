"""W2's CPU per attempt without the rest of the session: one standalone on a fresh home, the
quick plan's warm-up and one more fan-out of 100, then K fan-outs of `N` no-op tasks, each
measured as `python -m bench` measures W2 (`bench.runs.fanout` with `bench.cpu`'s shares:
needs root). One JSON line per fan-out, with the 1-minute load average.

    python -m bench.fanout_cpu WORKDIR [K] [N]

About 20 s for K=3 at N=100: short enough to alternate two exports (`git archive`) in pairs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bench import cpu, dagfiles, runs
from bench.standalone import Standalone


def main(workdir: Path, rounds: int, tasks: int) -> None:
    dags = workdir / "dags"
    dagfiles.drop(dags, dagfiles.IDLE_DAG, dagfiles.fanout(3, dagfiles.IDLE_DAG))
    notes: list[str] = []
    counting = cpu.Counting(f"brisa-fanout-cpu-{os.getpid()}", notes)
    try:
        with Standalone(workdir / "home", dags) as server:
            server.launch()
            server.wait_api()
            server.wait_dag(dagfiles.IDLE_DAG)
            assert server.proc is not None
            meter = counting.watch(server.proc.pid)
            runs.prepare(server, (tasks,), 3, 3)
            runs.warm_up(server)
            runs.fanout(server, tasks, meter)  # one more, unmeasured
            for _ in range(rounds):
                figures = runs.fanout(server, tasks, meter)
                figures["load"] = os.getloadavg()[0]
                print(json.dumps({key: round(value, 3) for key, value in figures.items()}))
    finally:
        counting.close()
    for note in notes:
        print(note, file=sys.stderr)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(
        Path(arguments[0]),
        int(arguments[1]) if len(arguments) > 1 else 3,
        int(arguments[2]) if len(arguments) > 2 else 100,
    )
