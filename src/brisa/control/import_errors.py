"""Import errors as people triage them: filtered by team, repository and text, each with the
kind of failure (syntax, import, timeout, crash, other) and the file:line it points at. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from brisa.core.records import ImportErrorRecord

# How the DAG processor words the failures that leave no Python traceback (dagprocessor).
_TIMEOUT = "parsing took longer than"
_CRASH = "parsing process died"
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


@dataclass(frozen=True)
class ImportErrorView:
    record: ImportErrorRecord
    kind: str
    location: str  # `file:line` of the innermost frame in the DAG file, or the file


def kind_of(record: ImportErrorRecord) -> str:
    text = f"{record.message}\n{record.traceback}"
    if _TIMEOUT in record.message:
        return "timeout"
    if _CRASH in record.message:
        return "crash"
    if "SyntaxError" in text or "IndentationError" in text:
        return "syntax"
    if "ModuleNotFoundError" in text or "ImportError" in text:
        return "import"
    return "error"


def location_of(record: ImportErrorRecord) -> str:
    """The innermost traceback frame in the failing file, else the stored line, else none."""
    name = record.filename.rsplit("/", 1)[-1]
    frames = [(f, n) for f, n in _FRAME.findall(record.traceback) if f.endswith(name)]
    if frames:
        return f"{record.filename}:{frames[-1][1]}"
    return f"{record.filename}:{record.lineno}" if record.lineno else record.filename


def view(
    records: Iterable[ImportErrorRecord], *, repo: str = "", q: str = ""
) -> list[ImportErrorView]:
    needle = q.lower()
    out = []
    for record in records:
        if repo and record.repo != repo:
            continue
        if needle and needle not in f"{record.filename}\n{record.message}".lower():
            continue
        out.append(ImportErrorView(record, kind_of(record), location_of(record)))
    return out
