"""The DAG-parsing child process: `python -m brisa.parsing ROOT FILE...`.

Imports each DAG file (user code runs here, never in the scheduler or the API) and prints
one JSON line per file: the serialized DAGs, or the error with file, line and traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from brisa.errors import BrisaError
from brisa.loader import load_file
from brisa.spec import serialize


def parse_file(root: Path, rel: str) -> dict[str, Any]:
    dags, error = load_file(root / rel, root)
    if error is None:
        try:
            specs = [serialize(dag, rel) for dag in dags]
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
    out = sys.stdout
    sys.stdout = sys.stderr  # prints in DAG files must not corrupt the JSON protocol
    for rel in argv[1:]:
        out.write(json.dumps(parse_file(root, rel)) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
