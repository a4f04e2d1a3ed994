"""The task graph of a DAG: finding a cycle, and the order to run or show its tasks in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from brisa.errors import InvalidInput


def find_cycle(upstream: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in the graph as a list of task ids (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for up in sorted(upstream.get(node, ())):
            if state.get(up) == 1:
                return [*path[path.index(up) :], up][::-1]
            if up not in state and (found := visit(up)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(upstream):
        if node not in state and (found := visit(node)):
            return found
    return None


def topological_order(upstream: Mapping[str, Iterable[str]]) -> list[str]:
    """Task ids with every task after its upstream tasks: first the tasks with no upstream,
    then those that only wait for them, and so on; ties broken by id. Upstream ids that are
    not keys are ignored. InvalidInput when tasks depend on each other."""
    waiting = {tid: set(ups) & upstream.keys() for tid, ups in upstream.items()}
    order: list[str] = []
    while waiting:
        ready = sorted(tid for tid, ups in waiting.items() if not ups)
        if not ready:
            raise InvalidInput(f"tasks {', '.join(sorted(waiting))} depend on each other")
        for tid in ready:
            del waiting[tid]
            order.append(tid)
        for ups in waiting.values():
            ups.difference_update(ready)
    return order
