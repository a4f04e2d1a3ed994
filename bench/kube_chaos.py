"""K8's chaos run, the long version: `brisa.testing.kube.fleetchaos` with three schedulers on a
PostgreSQL database of its own, faults for DURATION seconds, once with
`delete_policy = "always"` and once with the default policy (`on_success`).

Run alone: `python -m bench.kube_chaos [DURATION] [TASKS]` (prints each run's report and the
load average).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench import scheduler_scale
from brisa.testing.kube.fleetchaos import Config, load, run


def main(duration: float, tasks: int) -> int:
    failed = 0
    for policy in ("always", "on_success"):
        with tempfile.TemporaryDirectory(prefix="brisa-kube-chaos-") as tmp:
            folder = Path(tmp)
            with scheduler_scale.database("postgresql", folder) as url:
                config = Config(duration=duration, tasks=tasks, delete_policy=policy)
                result = run(config, folder / "fleet", url)
        print(result.render())
        print(f"load average: {load()}\n", flush=True)
        failed += bool(result.violations)
    return failed


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(float(args[0]) if args else 180.0, int(args[1]) if len(args) > 1 else 20))
