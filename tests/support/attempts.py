"""Execution tokens of real attempts, for tests that call the execution API as a worker.

The executor hands each worker its token over an inherited descriptor that the worker reads
once (`brisa.worker.env.receive_token`); the task never sees it. To call the execution API with
a valid token, a test starts the standalone with workers spawned as new interpreters
(`[executor] start_method = "spawn"`) and with `capture_tokens()` in their `PYTHONPATH`: a
`sitecustomize` there wraps `receive_token` before the worker imports it and writes what it
returns to a file per attempt. Whatever a token looks like, this keeps working as long as the
worker receives it through `receive_token`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

FOLDER_VARIABLE = "TEST_TOKEN_FOLDER"

_HOOK = '''\
"""Test hook (tests/support/attempts.py): record a spawned worker's token."""
import json, os, sys

_folder = os.environ.get("TEST_TOKEN_FOLDER")
if _folder and "--ti" in sys.argv and "--try" in sys.argv:
    from brisa.worker import env as _env

    _ti = int(sys.argv[sys.argv.index("--ti") + 1])
    _try = int(sys.argv[sys.argv.index("--try") + 1])
    _receive = _env.receive_token

    def _recording(environ):
        token = _receive(environ)
        path = os.path.join(_folder, f"{_ti}.{_try}.json")
        with open(path + ".tmp", "w") as out:
            json.dump({"ti_id": _ti, "try_number": _try, "token": token}, out)
        os.replace(path + ".tmp", path)
        return token

    _env.receive_token = _recording
'''


@dataclass(frozen=True)
class Attempt:
    ti_id: int
    try_number: int
    token: str

    @property
    def path(self) -> str:
        return f"/execution/v1/attempts/{self.ti_id}/{self.try_number}"


def capture_tokens(folder: Path) -> dict[str, str]:
    """Environment for a standalone whose workers record their tokens into `folder`."""
    hook = folder / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(_HOOK)
    python_path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PYTHONPATH": python_path,
        FOLDER_VARIABLE: str(folder),
        "BRISA__EXECUTOR__START_METHOD": "spawn",
    }


def captured(folder: Path, timeout: float = 20.0) -> list[Attempt]:
    """The attempts whose workers have started so far, waiting for at least one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [Attempt(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
