"""Strategic-merge patch directives in `pod_override` (K1's escape hatch), linted.

Kubernetes' strategic-merge patch can say what a plain partial Pod cannot. Brisa's merge
(`brisa.core.pod.merge`) applies this subset of its directives:

- `{"name": "x", "$patch": "delete"}` as an item of a list merged by name (containers,
  initContainers, volumes, env, volumeMounts, ...): the item named `x` is removed;
- `{"$patch": "replace"}` as an item of a list: the list is replaced by the other items;
- `"$patch": "replace"` in a map (or a named list item): the map replaces the old one instead
  of merging into it;
- `{"$patch": "delete"}` as the whole value of a key: the key is removed;
- `"$patch": "merge"`: the default, allowed and ignored.

The other directives (`$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`)
are refused with what to write instead, and so is any directive that would remove or replace
an admin-locked field (`brisa.core.pod.LOCKED`, a container's `securityContext`, Brisa's
labels): `patch_errors` says what is wrong and where, as a dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PATCH = "$patch"
DELETE, REPLACE, MERGE = "delete", "replace", "merge"
_UNSUPPORTED = ("$retainKeys", "$setElementOrder/", "$deleteFromPrimitiveList/")
# Paths that hold an admin-locked field: no directive may remove or replace them whole.
# `[]` stands for any item of a list of containers.
_HOLDS_LOCKED = frozenset(
    {
        "",
        "metadata",
        "metadata.labels",
        "metadata.annotations",
        "metadata.namespace",
        "metadata.name",
        "spec",
        "spec.containers",
        "spec.containers[]",
        "spec.initContainers",
        "spec.initContainers[]",
        "spec.serviceAccountName",
        "spec.serviceAccount",
        "spec.securityContext",
        "spec.automountServiceAccountToken",
        "spec.hostNetwork",
        "spec.hostPID",
        "spec.hostIPC",
    }
)
_REMOVABLE = frozenset({"spec.containers[]", "spec.initContainers[]"})
_SECURITY = frozenset(
    {"spec.containers[].securityContext", "spec.initContainers[].securityContext"}
)


def is_directive(key: object) -> bool:
    return isinstance(key, str) and key.startswith("$")


def directive(value: object) -> str | None:
    """The `$patch` of a map, if it has one."""
    if isinstance(value, Mapping):
        found = value.get(PATCH)
        return str(found) if found is not None else None
    return None


def without_directives(value: Any) -> Any:
    """`value` with every `$...` key removed (what a layer means once applied)."""
    if isinstance(value, Mapping):
        return {k: without_directives(v) for k, v in value.items() if not is_directive(k)}
    if isinstance(value, (list, tuple)):
        return [without_directives(v) for v in value if directive(v) != REPLACE or len(v) > 1]
    return value


def has_directives(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(is_directive(k) or has_directives(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_directives(v) for v in value)
    return False


def patch_errors(fragment: Mapping[str, Any]) -> list[str]:
    """What is wrong with the directives of a `pod_override` (empty: nothing)."""
    errors: list[str] = []
    _check_map(fragment, "", errors)
    return errors


def _shape(path: str) -> str:
    """`spec.containers[x].env` → `spec.containers[].env` (to compare with _HOLDS_LOCKED)."""
    out, depth = [], 0
    for char in path:
        if char == "[":
            depth += 1
            out.append("[]")
        elif char == "]":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _locked(path: str) -> bool:
    shape = _shape(path)
    return shape in _HOLDS_LOCKED or shape in _SECURITY


def _check_map(value: Mapping[str, Any], path: str, errors: list[str]) -> None:
    where = f"pod_override.{path}" if path else "pod_override"
    extra = [key for key in value if is_directive(key) and key != PATCH]
    errors += [_unknown_directive(key, where) for key in extra]
    problem = _patch_problem(value, path)
    if problem:
        errors.append(f"{where}: {problem}")
    for key, child in value.items():
        if is_directive(key):
            continue
        child_path = f"{path}.{key}" if path else str(key)
        if isinstance(child, Mapping):
            _check_map(child, child_path, errors)
        elif isinstance(child, (list, tuple)):
            _check_list(list(child), child_path, errors)


def _unknown_directive(key: str, where: str) -> str:
    if any(key.startswith(u) for u in _UNSUPPORTED):
        return (
            f"{where}: the directive {key!r} is not supported; write the whole list or map "
            'with "$patch": "replace", or delete a named item with "$patch": "delete"'
        )
    return (
        f"{where}: {key!r} is not a strategic-merge directive Brisa knows "
        '(use "$patch": "delete" | "replace" | "merge")'
    )


def _patch_problem(value: Mapping[str, Any], path: str) -> str | None:
    """What is wrong with the `$patch` of the map at `path`, or None."""
    patch = value.get(PATCH)
    if patch is None or patch == MERGE:
        return None
    if patch not in (DELETE, REPLACE):
        return f"\"$patch\": {patch!r} is not one of 'delete', 'replace', 'merge'"
    if patch == DELETE and not path:
        return '"$patch": "delete" cannot delete the whole pod'
    if patch == DELETE and set(value) - {PATCH, "name"}:
        return '"$patch": "delete" takes no other field (but a name)'
    if patch == DELETE and _shape(path) in _REMOVABLE:
        return None  # a whole container may go (the task's own is checked at pod build)
    if _locked(path):
        return (
            f'"$patch": "{patch}" would remove or replace a field only the deployment\'s '
            "settings decide (namespace, Brisa's labels, service account, security contexts, "
            "host namespaces); patch the fields inside it instead"
        )
    return None


def _check_list(items: list[Any], path: str, errors: list[str]) -> None:
    for item in items:
        if not isinstance(item, Mapping):
            continue
        patch = item.get(PATCH)
        if patch == REPLACE and len(item) == 1:  # `{"$patch": "replace"}`: the whole list
            if _locked(path):
                errors.append(
                    f'pod_override.{path}: "$patch": "replace" would replace a list that holds '
                    "fields only the deployment's settings decide; merge items by name instead"
                )
            continue
        if patch is not None and "name" not in item:
            errors.append(
                f'pod_override.{path}: "$patch": {patch!r} on a list item needs the item\'s '
                '"name" (only lists merged by name can delete or replace an item)'
            )
            continue
        name = item.get("name", "?")
        item_path = f"{path}[{name}]"
        _check_map(item, item_path, errors)
