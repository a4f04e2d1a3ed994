"""Nothing of the Kubernetes executor is imported by the worker or in local mode: the client
(lightkube and its HTTP stack), `brisa.executor.kubernetes` and YAML load only for
`kind = "kubernetes"` (the `[kubernetes]` settings themselves are plain checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from pathlib import Path
import brisa.worker.main
from brisa.settings import load
from brisa.system import System

system = System.create(load(home=Path(sys.argv[1])))
scheduler = system.scheduler
system.shutdown()
client = ("brisa.executor.kubernetes", "lightkube", "kubernetes", "httpx", "yaml")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(client))))
"""


def test_the_worker_and_a_local_scheduler_import_nothing_of_kubernetes(tmp_path: Path) -> None:
    env = {**os.environ, "BRISA_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout.splitlines()[-1]) == []
