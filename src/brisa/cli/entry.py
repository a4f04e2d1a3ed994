"""The `brisa` console script. `brisa task run` skips the CLI library entirely: worker
start-up time is a product budget."""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:2] == ["task", "run"]:
        from brisa.worker.main import main as worker_main

        sys.exit(worker_main(argv[2:]))
    from brisa.cli.commands import cli

    cli(argv, prog_name="brisa")
