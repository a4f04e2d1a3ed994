"""A DAG version's shape as the graph view draws it (UI.md A.2.5): nodes (task, kind, trigger
rule, retries), edges upstream -> downstream, and a hash that names it. Immutable per commit, so
the browser caches it forever under its ETag. Pure."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from brisa.control.grid import topo_rows
from brisa.core.spec import DagSpec


def structure(spec: DagSpec) -> dict[str, Any]:
    """`{"dag_id", "nodes": [{"id", "kind", "trigger_rule", "retries"}], "edges": [[up, down]],
    "hash"}`; nodes in topological order, edges sorted."""
    nodes = [
        {
            "id": tid,
            "kind": spec.tasks[tid].kind,
            "trigger_rule": str(spec.tasks[tid].trigger_rule),
            "retries": spec.tasks[tid].retries,
        }
        for tid in topo_rows(spec)
    ]
    edges = sorted([up, tid] for tid, t in spec.tasks.items() for up in t.upstream)
    body = {"dag_id": spec.dag_id, "nodes": nodes, "edges": edges}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    return {**body, "hash": digest}


def neighbours(spec: DagSpec) -> dict[str, tuple[list[str], list[str]]]:
    """Each task's upstream and downstream tasks (sorted): the graph's list view."""
    down = spec.downstream()
    return {tid: (sorted(t.upstream), sorted(down[tid])) for tid, t in spec.tasks.items()}
