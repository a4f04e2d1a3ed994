"""Import a DAG file and collect the DAGs it defines. Runs user code: only ever called in
a DAG-parsing child process, a worker, or `brisa dags test` — never in the scheduler or API."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from brisa.authoring.dag import DAG, collecting
from brisa.errors import DagDefinitionError


@dataclass(frozen=True)
class LoadError:
    filename: str
    lineno: int | None
    message: str
    traceback: str


def _module_name(path: Path) -> str:
    return "brisa_dag_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]


def _in_file(exc: BaseException, path: Path) -> bool:
    """Whether a definition error points into the DAG file itself (not a helper module)."""
    return (
        isinstance(exc, DagDefinitionError)
        and exc.filename is not None
        and os.path.abspath(exc.filename) == str(path)
    )


def _error_line(exc: BaseException, path: Path) -> int | None:
    """The innermost line of the traceback that is in the DAG file itself."""
    if isinstance(exc, DagDefinitionError) and exc.lineno and _in_file(exc, path):
        return exc.lineno
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == str(path):
            line = frame.lineno
    return line


def _error_message(exc: BaseException, path: Path) -> str:
    if isinstance(exc, DagDefinitionError):
        # A mistake made in a helper module keeps that module's name and line in the message.
        return exc.bare_message if _in_file(exc, path) else str(exc)
    return f"{type(exc).__name__}: {exc}"


def load_file(path: Path, root: Path) -> tuple[list[DAG], LoadError | None]:
    """Execute a DAG file and return its DAGs, or the error with file and line."""
    path = path.absolute()
    rel = str(path.relative_to(root.absolute()))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # DAG files may import helper modules next to them
    name = _module_name(path)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        with collecting() as dags:
            spec.loader.exec_module(module)
        for dag in dags:
            dag.validate()
        return dags, None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.modules.pop(name, None)
        return [], LoadError(
            rel,
            _error_line(exc, path),
            _error_message(exc, path),
            "".join(traceback.format_exception(exc)),
        )
