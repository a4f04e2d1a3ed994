"""A real `brisa standalone` for end-to-end tests (`brisa.testing.server`), given a copy of
the repository's example DAGs unless told otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

from brisa.testing.server import FINISHED, ApiError, free_port
from brisa.testing.server import Standalone as _Standalone

__all__ = ["EXAMPLES", "FINISHED", "ApiError", "Standalone", "free_port"]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "dags"


class Standalone(_Standalone):
    def __init__(
        self,
        home: Path,
        *,
        dags: Path | None = None,
        env: dict[str, str] | None = None,
        copy_examples: bool = True,
    ) -> None:
        dags = dags or home / "dags"
        if copy_examples and not dags.exists():
            shutil.copytree(EXAMPLES, dags)
        super().__init__(home, dags=dags, env=env)
