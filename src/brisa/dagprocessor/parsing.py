"""The DAG-parsing child process: `python -m brisa.dagprocessor.parsing ROOT FILE...`.

Imports each DAG file (user code runs here, never in the scheduler or the API) and prints
one JSON line per file: the serialized DAGs, or the error with file, line and traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from brisa.authoring.dag import DAG
from brisa.authoring.loader import load_file
from brisa.authoring.serialize import serialize
from brisa.errors import BrisaError, DagDefinitionError
from brisa.worker import containment


def _check_unique(dags: list[DAG]) -> None:
    seen: dict[str, DAG] = {}
    for dag in dags:
        if dag.dag_id in seen:
            raise DagDefinitionError(
                f"DAG id {dag.dag_id!r} is defined twice in this file "
                f"(first at line {seen[dag.dag_id].lineno})",
                dag.filename,
                dag.lineno,
            )
        seen[dag.dag_id] = dag


def parse_file(root: Path, rel: str) -> dict[str, Any]:
    dags, error = load_file(root / rel, root)
    if error is None:
        try:
            _check_unique(dags)
            specs = [serialize(dag, rel).to_json() for dag in dags]
            return {"file": rel, "dags": specs, "error": None}
        except (BrisaError, TypeError, ValueError) as exc:
            return {
                "file": rel,
                "dags": [],
                "error": {
                    "lineno": getattr(exc, "lineno", None),
                    "message": str(exc),
                    "traceback": "",
                },
            }
    return {
        "file": rel,
        "dags": [],
        "error": {"lineno": error.lineno, "message": error.message, "traceback": error.traceback},
    }


def main(argv: list[str]) -> int:
    root = Path(argv[0])
    # Output of DAG files must not corrupt the JSON protocol: not only `print`, but also
    # writes to file descriptor 1 and the output of processes they start. So the protocol gets
    # a private (non-inheritable) copy of stdout, and descriptor 1 becomes stderr.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    # Processes a DAG file detaches (setsid, a daemon) stay ours and go with us: the DAG
    # processor kills our descendants too when we time out (worker.containment).
    containment.become_subreaper()
    try:
        for rel in argv[1:]:
            out.write(json.dumps(parse_file(root, rel)) + "\n")
            out.flush()
    finally:
        containment.kill_descendants(os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
