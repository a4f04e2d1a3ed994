"""Serialized DAGs: the only form of a DAG the scheduler and the API ever see.

A spec is plain JSON. Its structure version is the hash of its canonical JSON, so the same
DAG parsed twice has the same version and a changed DAG gets a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SPEC_FORMAT = 1


def canonical_json(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _without_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_lines(v) for k, v in value.items() if k != "lineno"}
    if isinstance(value, list):
        return [_without_lines(v) for v in value]
    return value


def structure_version(spec: dict[str, Any]) -> str:
    """Hash of the DAG's structure; line numbers are left out so that editing a comment
    does not make a new version."""
    return hashlib.sha256(canonical_json(_without_lines(spec)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DagSpec:
    """Read-only accessors over a spec dict, for the scheduler and the API."""

    raw: dict[str, Any]

    @property
    def dag_id(self) -> str:
        return str(self.raw["dag_id"])

    @property
    def schedule(self) -> dict[str, Any]:
        return dict(self.raw["schedule"])

    @property
    def start_date(self) -> datetime | None:
        value = self.raw.get("start_date")
        return datetime.fromisoformat(value) if value else None

    @property
    def end_date(self) -> datetime | None:
        value = self.raw.get("end_date")
        return datetime.fromisoformat(value) if value else None

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return {t["task_id"]: t for t in self.raw["tasks"]}

    @property
    def params(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw.get("params", {}))

    def downstream(self) -> dict[str, set[str]]:
        down: dict[str, set[str]] = {tid: set() for tid in self.tasks}
        for tid, t in self.tasks.items():
            for up in t["upstream"]:
                down[up].add(tid)
        return down

    def descendants(self, task_ids: set[str]) -> set[str]:
        down = self.downstream()
        seen: set[str] = set()
        stack = list(task_ids)
        while stack:
            for child in down[stack.pop()]:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen
