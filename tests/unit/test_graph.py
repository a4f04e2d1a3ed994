"""The task graph: the order a run's tasks are run (`dags test`) and shown (API, CLI) in."""

from __future__ import annotations

import pytest

from brisa.core.graph import find_cycle, topological_order
from brisa.errors import InvalidInput


def test_every_task_comes_after_its_upstream_tasks_ties_by_id() -> None:
    # start -> middle -> a_end, and a lone task: ids sort the other way round.
    upstream = {"a_end": ["middle"], "middle": ["start"], "start": [], "lone": []}
    assert topological_order(upstream) == ["lone", "start", "middle", "a_end"]


def test_tasks_at_the_same_depth_are_ordered_by_id() -> None:
    upstream = {"z": [], "b": ["z"], "a": ["z"], "join": ["a", "b"]}
    assert topological_order(upstream) == ["z", "a", "b", "join"]


def test_upstream_ids_that_are_not_tasks_are_ignored() -> None:
    assert topological_order({"b": ["gone"], "a": ["b"]}) == ["b", "a"]


def test_tasks_that_depend_on_each_other_are_an_error() -> None:
    with pytest.raises(InvalidInput, match="tasks a, b depend on each other"):
        topological_order({"a": ["b"], "b": ["a"], "c": []})
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": set(), "b": {"a"}}) is None
