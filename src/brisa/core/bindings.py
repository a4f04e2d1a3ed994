"""How an argument of a Python task is stored in its spec, and turned back into a value.

One binding per argument, three shapes:

    {"value": <JSON>}                 a plain value, given as it is
    {"ref": "extract"}                the return value of task `extract`
    {"refs": ["a", "b"]}              a list of return values, in that order
    {"refs": {"left": "a", ...}}      a dict of return values, by key

The authoring model writes them, the store reads `refs_of` to send a worker only the upstream
values its function takes, and the worker (or `brisa dags test`) calls `resolve`.
"""

from __future__ import annotations

from typing import Any


def value(data: Any) -> dict[str, Any]:
    return {"value": data}


def ref(task_id: str) -> dict[str, Any]:
    return {"ref": task_id}


def refs(task_ids: list[str] | dict[str, str]) -> dict[str, Any]:
    return {"refs": task_ids}


def refs_of(binding: dict[str, Any]) -> list[str]:
    """The task ids whose return values the binding takes."""
    if "ref" in binding:
        return [binding["ref"]]
    many = binding.get("refs")
    if isinstance(many, dict):
        return list(many.values())
    return list(many or [])


def resolve(binding: dict[str, Any], upstream: dict[str, Any]) -> Any:
    """The argument's value, with `upstream` the return values by task id (a missing one,
    e.g. of an upstream task that was skipped, is None)."""
    if "ref" in binding:
        return upstream.get(binding["ref"])
    if "refs" in binding:
        many = binding["refs"]
        if isinstance(many, dict):
            return {key: upstream.get(task_id) for key, task_id in many.items()}
        return [upstream.get(task_id) for task_id in many]
    return binding["value"]
