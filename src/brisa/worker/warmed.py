"""A DAG file imported once, before this worker was forked (`[executor] warm_imports`, ADR 0014).

A warm process (`brisa.executor.local.warm`) puts one commit of one repository in place for one
team, imports one DAG file from it, and records what it got here; the workers forked from it then
find the file's DAGs already built. `dags_for` hands them to an attempt only when its work
item names exactly that team, code and file, and the attempt's code root is the warm one;
otherwise the attempt imports the file itself, after the warm import's modules are dropped
(`forget`), as if it had never happened.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brisa.core.records import CodeRef

if TYPE_CHECKING:
    from brisa.authoring.dag import DAG
    from brisa.core.records import WorkItem

# A DAG file holding this line is never imported in a warm process: each of its attempts
# imports it, as without `warm_imports` (for files whose import must run in the attempt).
OPT_OUT = "# brisa: no-warm-import"


@dataclass(frozen=True)
class WarmKey:
    """What a warm process is for: one team's file of one commit. Never shared beyond it."""

    team: str
    fileloc: str
    code: CodeRef

    def to_json(self) -> dict[str, Any]:
        return {"team": self.team, "fileloc": self.fileloc, "code": self.code.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WarmKey:
        return cls(str(data["team"]), str(data["fileloc"]), CodeRef.from_json(data["code"]))

    def matches(self, item: WorkItem) -> bool:
        return (item.team, item.fileloc, item.code) == (self.team, self.fileloc, self.code)


@dataclass(frozen=True)
class Warmed:
    key: WarmKey
    root: Path
    dags: list[DAG]


_current: list[Warmed] = []  # at most one: set in the warm process, inherited by its workers


def record(warmed: Warmed) -> None:
    _current[:] = [warmed]


def dags_for(item: WorkItem, root: Path) -> list[DAG] | None:
    """The DAGs imported before the fork, if they are this attempt's file of this commit for
    this team, from this root; else None (and the warm import is forgotten)."""
    if not _current:
        return None
    warmed = _current[0]
    if warmed.key.matches(item) and warmed.root == root:
        return warmed.dags
    forget()
    return None


def forget() -> None:
    """Drop the warm import: its modules (the DAG file's and any helper imported from its
    root) and its root on `sys.path`, so the attempt's own import starts clean."""
    if not _current:
        return
    root = str(_current.pop().root)
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if where.startswith(root + "/"):
            del sys.modules[name]
    while root in sys.path:
        sys.path.remove(root)
