"""Specs and work items are read through their typed form only.

The JSON keys of a serialized DAG and of a work item are known to `core/spec.py` and
`core/records.py` alone; everywhere else reads attributes. This test scans the source for
reads of those keys (`x["upstream"]`, `x.get("retries")`, `"default" in x`) and fails when
one comes back. The CLI modules that read the REST API's answers, and a few dicts that
happen to share a key name, are listed below with what they read instead.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import brisa
from brisa.core.records import WorkItem
from brisa.core.spec import DagSpec

SRC = Path(brisa.__file__).parent
GOLDEN = Path(__file__).parent / "spec_golden" / "specs.json"
OWNERS = {"core/spec.py", "core/paramspec.py", "core/records.py"}
# The CLI and the test server's client read the REST API's JSON answers (rendered by
# api/render.py), not specs.
REST_CLIENTS = {"cli/remote.py", "cli/tables.py", "cli/repos.py", "cli/client.py"}
REST_CLIENTS |= {"testing/server.py", "testing/chaos/cluster.py"}
# Kubernetes objects (pods, events, statuses as the API server sends them), never specs: a
# spec reaches these packages typed.
KUBE_JSON = ("executor/kubernetes/", "testing/kube/")
# Dicts that are not specs but share a key with one: (module, key) -> what the dict is.
OTHER_DICTS = {
    ("web/api/app.py", "type"): "a validation error from pydantic",
    ("web/api/guard.py", "type"): "an ASGI scope or message",
    ("web/api/guard.py", "path"): "an ASGI scope",
    ("web/ui/security.py", "type"): "an ASGI scope or message",
    ("web/ui/trigger.py", "run_id"): "the trigger form's submitted fields",
    ("control/dag_list.py", "team"): "a list page's query string",
    ("store/daglist.py", "description"): "the stored spec's JSON column, searched in SQL",
    ("web/ui/panels.py", "task_id"): "the Events tab's query string",
    ("web/ui/trigger.py", "logical_date"): "the trigger form's submitted fields",
    ("web/ui/actions.py", "tasks"): "the clear/mark dialog's options",
    ("web/ui/actions.py", "upstream"): "the clear/mark dialog's options",
    ("web/ui/bulkactions.py", "upstream"): "the bulk clear dialog's options",
    ("web/ui/dag.py", "task"): "the grid's query string",
    ("control/dag_list.py", "dag_id"): "a list page's query string",
    ("control/search.py", "team"): "a list page's query string",
    ("control/audit.py", "team"): "the audit page's query string",
    ("web/ui/audit.py", "run_id"): "an audit entry's detail (what a trigger created)",
    ("control/search.py", "task"): "a list page's query string",
    ("web/lanes.py", "type"): "an ASGI scope",
    ("web/lanes.py", "path"): "an ASGI scope",
    ("web/executionlane.py", "type"): "an ASGI scope",
    ("web/executionlane.py", "path"): "an ASGI scope",
    ("web/metering.py", "type"): "an ASGI scope or message",
    ("web/ui/eventstream.py", "type"): "an ASGI message",
    ("executor/local/forkserver.py", "env"): "a fork request",
    ("executor/local/warm.py", "env"): "a fork request",
    ("logs/server.py", "path"): "a worker's opening message to the log server",
    ("worker/warmed.py", "team"): "a warm key's wire form (fork server requests)",
    ("worker/warmed.py", "fileloc"): "a warm key's wire form (fork server requests)",
    ("worker/warmed.py", "code"): "a warm key's wire form (fork server requests)",
    ("objectstore/s3.py", "path"): "an object's metadata from obstore",
    ("settings.py", "secret"): "the declaration of a setting",
    ("authoring/pods.py", "env"): "the pod= settings a DAG file writes",
    ("authoring/pods.py", "value"): "a toleration a DAG file writes",
    ("kubesettings.py", "kind"): "a pod template (YAML)",
}


def spec_keys() -> set[str]:
    """Every key a spec or a work item has in its JSON form."""
    keys: set[str] = set()
    for entry in json.loads(GOLDEN.read_text()):
        spec = DagSpec.from_json(entry["spec"]).to_json()
        keys.update(spec, spec["schedule"])
        for param in spec["params"].values():
            keys.update(param)
        for task in spec["tasks"]:
            keys.update(task)
            for binding in [*task.get("args", []), *task.get("kwargs", {}).values()]:
                keys.update(binding)
        task = DagSpec.from_json(entry["spec"]).tasks
        when = datetime(2026, 1, 1, tzinfo=UTC)
        for t in task.values():
            item = WorkItem("t", "d", t.task_id, "r", 1, when, when, when, {}, "f", "", t, {})
            data = item.to_json()
            keys.update(data, data["code"])
    return keys


KEYS = spec_keys()


def _key(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _reads(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, key) of every subscript read, `.get(key)` and `key in ...` with a string key."""
    for node in ast.walk(tree):
        key: Any = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = _key(node.slice)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and node.args:
                key = _key(node.args[0])
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            key = _key(node.left)
        if key in KEYS:
            yield node.lineno, key


def all_reads() -> list[tuple[str, int, str]]:
    """(module, line, key) of every read of a spec key outside the modules that own them."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        module = path.relative_to(SRC).as_posix()
        if module in OWNERS | REST_CLIENTS or module.startswith(("store/migrations/", *KUBE_JSON)):
            continue
        tree = ast.parse(path.read_text(), str(path))
        found += [(module, line, key) for line, key in _reads(tree)]
    return found


def test_the_keys_cover_specs_tasks_params_bindings_and_work_items() -> None:
    expected = {"upstream", "trigger_rule", "retries", "catchup", "params", "default", "secret"}
    expected |= {"ref", "value", "kwargs", "command", "expr", "run_id", "secret_params", "sha"}
    assert expected <= KEYS


def test_the_scan_finds_a_string_key_read() -> None:
    code = 'a = task["upstream"]\nb = spec.get("catchup")\nc = "default" in p\nd["tags"] = 1\n'
    assert [key for _, key in _reads(ast.parse(code))] == ["upstream", "catchup", "default"]


def test_no_module_reads_a_spec_or_work_item_by_key() -> None:
    reads = all_reads()
    found = [f"{m}:{line} reads {key!r}" for m, line, key in reads if (m, key) not in OTHER_DICTS]
    assert found == []
    # An exception no longer needed goes, so that the list cannot hide a spec read later.
    assert {(m, key) for m, _, key in reads} >= set(OTHER_DICTS)
