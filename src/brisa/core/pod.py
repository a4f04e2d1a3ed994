"""A task's pod settings, as stored in its spec, and the merge rules of pod specs (K1).

`PodSettings` is what a DAG file asks of the pod a task runs in under the Kubernetes
executor: resources, image, env, scheduling, service account, metadata and a partial pod spec
(`pod_override`). It is stored in the task's JSON under "pod" only when set, so the JSON of
tasks without pod settings is unchanged. The local executor ignores it.

`merge(base, override)` is the one merge of pod spec fragments: lists of objects with a
`name` (containers, initContainers, volumes, env, volumeMounts, ...) merge item by item by
name, maps merge key by key, `tolerations` add up, and anything else is replaced by the
override; the strategic-merge directives of `brisa.core.podpatch` (`"$patch": "delete"` /
`"replace"`) delete and replace. `LOCKED` lists what only the deployment's administrator sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from brisa.core.podpatch import DELETE, PATCH, REPLACE, directive, is_directive, without_directives

Json = dict[str, Any]

# Paths (in a pod manifest) a DAG file may not set: the pod's namespace and identity, and
# what decides its privileges. `spec.serviceAccountName` may be chosen among the accounts the
# settings allow ([kubernetes] task_service_accounts), through `service_account` only.
LOCKED: tuple[tuple[str, ...], ...] = (
    ("metadata", "namespace"),
    ("metadata", "name"),
    ("spec", "serviceAccountName"),
    ("spec", "serviceAccount"),
    ("spec", "securityContext"),
    ("spec", "automountServiceAccountToken"),
    ("spec", "hostNetwork"),
    ("spec", "hostPID"),
    ("spec", "hostIPC"),
)
LOCKED_IN_CONTAINERS = ("securityContext",)  # in every container and init container
LABEL_PREFIX = "brisa.dev/"  # labels and annotations Brisa sets; nobody else may
_ADDED_UP = frozenset({"tolerations"})


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class PodSettings:
    """Per-task (or per-DAG) pod settings. Empty fields are left to the team's template."""

    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)
    image: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    affinity: Mapping[str, Any] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    service_account: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    pod_override: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping) and not isinstance(value, MappingProxyType):
                object.__setattr__(self, f.name, _frozen(value))
        object.__setattr__(self, "tolerations", tuple(_frozen(t) for t in self.tolerations))

    def is_empty(self) -> bool:
        return not self.to_json()

    def to_json(self) -> Json:
        """Only the fields that are set, in field order."""
        out: Json = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                out[f.name] = _plain(value)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PodSettings:
        values = dict(data)
        values["tolerations"] = tuple(values.get("tolerations", ()))
        return cls(**values)

    def over(self, base: PodSettings) -> PodSettings:
        """These settings on top of `base` (e.g. a task's over its DAG's defaults)."""
        merged = merge(base.to_json(), self.to_json(), keep=True)
        return PodSettings.from_json(merged)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, Mapping) and "name" in i for i in items)


def _whole_list_marker(item: Any) -> bool:
    """`{"$patch": "replace"}` as a list item: the list replaces the old one."""
    return isinstance(item, Mapping) and len(item) == 1 and directive(item) == REPLACE


def _merge_lists(key: str, base: list[Any], override: list[Any], keep: bool) -> list[Any]:
    replaced = any(_whole_list_marker(i) for i in base)  # a composed layer's own marker
    base = [i for i in base if not _whole_list_marker(i)]
    items = [i for i in override if not _whole_list_marker(i)]
    if len(items) < len(override):
        base, replaced = [], True
    if key in _ADDED_UP:
        result = [*base, *(merge({}, i, keep=keep) for i in items if i not in base)]
    elif (base and not _named(base)) or (items and not _named(items)):
        result = [merge({}, i, keep=keep) if isinstance(i, Mapping) else i for i in items]
    else:
        merged = {item["name"]: item for item in base}
        for item in items:
            name, old = item["name"], merged.get(item["name"])
            if directive(item) == DELETE:
                merged.pop(name, None)
                if keep:  # composing layers: the later ones must delete it too
                    merged[name] = dict(item)
            elif keep and old is not None and directive(old) == DELETE:
                merged[name] = merge({}, item, keep=True)  # added again: the delete is undone
            elif old is None or directive(item) == REPLACE:
                merged[name] = merge({}, item, keep=keep)
            else:
                merged[name] = merge(old, item, keep=keep)
        result = list(merged.values())
    return [{PATCH: REPLACE}, *result] if keep and replaced else result


def merge(base: Mapping[str, Any], override: Mapping[str, Any], *, keep: bool = False) -> Json:
    """`override` merged onto `base` (neither changed): maps merge key by key, lists of named
    objects by name, tolerations add up, anything else is replaced. The strategic-merge
    directives of `brisa.core.podpatch` in `override` are applied (`keep`: and kept, to
    compose two overrides into one that still deletes and replaces in what comes under)."""
    if directive(override) == REPLACE:
        whole: Json = _plain(override) if keep else without_directives(override)
        return whole
    out: Json = _plain(base)
    for key, value in override.items():
        if is_directive(key):
            if keep:
                out[key] = value
            continue
        old = out.get(key)
        if directive(value) == DELETE:
            out.pop(key, None)
            if keep:
                out[key] = _plain(value)
        elif isinstance(value, Mapping):
            under = (
                old if isinstance(old, Mapping) and not (keep and directive(old) == DELETE) else {}
            )
            out[key] = merge(under, value, keep=keep)
        elif isinstance(value, (list, tuple)):
            out[key] = _merge_lists(key, old if isinstance(old, list) else [], _plain(value), keep)
        else:
            out[key] = _plain(value)
    return out


def locked_paths(fragment: Mapping[str, Any]) -> list[str]:
    """The admin-locked fields a pod manifest fragment sets, as dotted paths (empty: none)."""
    found = [".".join(path) for path in LOCKED if _has(fragment, path)]
    spec = fragment.get("spec")
    for kind in ("containers", "initContainers"):
        items = spec.get(kind, []) if isinstance(spec, Mapping) else []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping):
                found += [
                    f"spec.{kind}[{item.get('name', '?')}].{key}"
                    for key in LOCKED_IN_CONTAINERS
                    if key in item
                ]
    metadata = fragment.get("metadata")
    for kind in ("labels", "annotations"):
        values = metadata.get(kind, {}) if isinstance(metadata, Mapping) else {}
        found += [
            f"metadata.{kind}.{key}"
            for key in (values if isinstance(values, Mapping) else {})
            if str(key).startswith(LABEL_PREFIX)
        ]
    return found


def _has(fragment: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    value: Any = fragment
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True
