"""The field names `pod_override` is checked against (src/brisa/authoring/podfields.json) are
those of Kubernetes' own Pod schema, as kubernetes-validate bundles it for the pinned version.

To move to another Kubernetes version: `python tests/unit/test_pod_fields.py 1.33.0`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

from brisa.authoring import pods

VENDORED = Path(pods.__file__).with_name("podfields.json")
SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def _ref(prop: dict[str, Any]) -> str | None:
    extra = prop.get("additionalProperties")
    for holder in (prop, prop.get("items") or {}, extra if isinstance(extra, dict) else {}):
        if "$ref" in holder:
            return str(holder["$ref"]).rsplit("/", 1)[-1]
    return None


def generate(version: str) -> dict[str, Any]:
    """Each type reachable from a Pod: its fields, with the type of those that are objects."""
    folder = SCHEMAS / f"v{version}-local-strict"
    defs = json.loads((folder / "_definitions.json").read_text())["$defs"]
    types: dict[str, dict[str, str | None]] = {}
    full: dict[str, str] = {}

    def walk(name: str) -> None:
        short = name.rsplit(".", 1)[-1]
        assert full.setdefault(short, name) == name, f"two types named {short}"
        if short in types:
            return
        types[short] = {}
        for key, prop in sorted((defs[name].get("properties") or {}).items()):
            ref = _ref(prop)
            if ref and defs[ref].get("properties"):
                types[short][key] = ref.rsplit(".", 1)[-1]
                walk(ref)
            else:
                types[short][key] = None

    walk("io.k8s.api.core.v1.Pod")
    return {"version": version, "types": dict(sorted(types.items()))}


def test_the_vendored_fields_are_kubernetes_own() -> None:
    vendored = json.loads(VENDORED.read_text())
    assert vendored == generate(vendored["version"])
    assert vendored["version"].startswith(pods.schema_version())


def test_the_pinned_version_is_the_one_manifests_are_validated_against() -> None:
    from brisa.executor.kubernetes.manifest import KUBERNETES_VERSION

    assert pods.schema_version().rsplit(".", 1)[0] == KUBERNETES_VERSION


if __name__ == "__main__":
    VENDORED.write_text(json.dumps(generate(sys.argv[1]), indent=0, sort_keys=True) + "\n")
