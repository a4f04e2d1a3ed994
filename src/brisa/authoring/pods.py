"""Pod settings in DAG files (`pod={...}` on a task or a DAG), checked where they are written.

Mistakes a cluster would refuse only when the pod is created (`memory="lots"`, a label too
long, a field that does not exist in a pod spec, a toleration with an unknown operator) are
refused here, and the DAG file does not load, naming the file and line. Unknown fields of
`pod_override` are found with the field names of Kubernetes' pod schema, pinned and vendored
in `podfields.json` (tests regenerate it from kubernetes-validate's schemas for the version in
it): the DAG processor checks each file without importing a schema validator.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from brisa.core.pod import PodSettings, locked_paths
from brisa.errors import InvalidInput

_KEYS = frozenset([*PodSettings.__dataclass_fields__, "resources"])
_IMAGE = re.compile(r"^[a-z0-9]([\w.\-/:]*[\w])?(@sha256:[0-9a-f]{64})?$", re.ASCII)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_FIELDS = Path(__file__).with_name("podfields.json")
_OPERATORS = ("Exists", "Equal")
_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")


def settings(value: object) -> PodSettings | None:
    """`pod=` as written in a DAG file, checked; InvalidInput says what is wrong."""
    if value is None:
        return None
    if isinstance(value, PodSettings):
        value = value.to_json()
    if not isinstance(value, Mapping):
        raise InvalidInput(f"pod settings must be a dict, got {type(value).__name__}")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise InvalidInput(f"unknown pod setting {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}")
    data = dict(value)
    if "resources" in data:
        data.update(_resources(data.pop("resources")))
    return PodSettings(
        requests=_quantities(data.get("requests", {}), "requests"),
        limits=_quantities(data.get("limits", {}), "limits"),
        image=check_image(data.get("image", "")) if data.get("image") else "",
        env=env_vars(data.get("env", {})),
        node_selector=labels(data.get("node_selector", {}), "node_selector"),
        affinity=_typed(data.get("affinity", {}), "Affinity", "affinity"),
        tolerations=tuple(_toleration(t) for t in _list(data.get("tolerations", ()))),
        service_account=_service_account(data.get("service_account", "")),
        labels=labels(data.get("labels", {}), "labels"),
        annotations=annotation_map(data.get("annotations", {})),
        pod_override=override(data.get("pod_override", {})),
    )


def _resources(value: Any) -> Mapping[str, Any]:
    """`resources={"requests": ..., "limits": ...}` (Kubernetes' shape) as two settings."""
    if not isinstance(value, Mapping) or set(value) - {"requests", "limits"}:
        raise InvalidInput('resources must be {"requests": {...}, "limits": {...}}')
    return value


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a dict, got {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(f"tolerations must be a list, got {type(value).__name__}")
    return list(value)


def _quantities(value: Any, what: str) -> dict[str, str]:
    from brisa.core import kubenames, quantity  # not at import: `import brisa` stays light

    out = {}
    for name, amount in _mapping(value, what).items():
        problem = kubenames.key_error(name, "resource name")
        if problem:
            raise InvalidInput(f"{what}: {problem}")
        text = quantity.canonical(amount, f"{what} {name!r}")
        if quantity.parse(text) < 0:
            raise InvalidInput(f"{what} {name!r}: {amount!r} is negative")
        out[name] = text
    return out


def check_image(image: object) -> str:
    """An image reference: `name[:tag]` or `name@sha256:<digest>`."""
    if not isinstance(image, str) or not _IMAGE.match(image) or len(image) > 512:
        raise InvalidInput(
            f"image {image!r} is not an image reference; write e.g. "
            "'ghcr.io/acme/train:1.4' or 'ghcr.io/acme/train@sha256:<64 hex digits>'"
        )
    return image


def env_vars(value: Any) -> dict[str, str]:
    env = _mapping(value, "env")
    for name, text in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise InvalidInput(f"env: {name!r} is not a valid environment variable name")
        if not isinstance(text, str):
            raise InvalidInput(f"env {name!r}: values must be strings, got {text!r}")
    return dict(env)


def labels(value: Any, what: str) -> dict[str, str]:
    """Labels (or a node selector): valid keys and values."""
    from brisa.core import kubenames  # not at import: `import brisa` stays light

    for key, text in _mapping(value, what).items():
        problem = kubenames.key_error(key) or kubenames.label_value_error(text)
        if problem:
            raise InvalidInput(f"{what}: {problem}")
    return dict(value)


def annotation_map(value: Any) -> dict[str, str]:
    from brisa.core import kubenames  # not at import: `import brisa` stays light

    for key, text in _mapping(value, "annotations").items():
        problem = kubenames.key_error(key, "annotation key")
        if problem or not isinstance(text, str):
            raise InvalidInput(f"annotations: {problem or f'value of {key!r} must be a string'}")
    return dict(value)


def _toleration(value: Any) -> dict[str, Any]:
    tol = dict(_typed(value, "Toleration", "toleration"))
    operator, effect = tol.get("operator", "Equal"), tol.get("effect", "")
    if operator not in _OPERATORS:
        raise InvalidInput(f"toleration operator {operator!r}: use 'Exists' or 'Equal'")
    if effect not in _EFFECTS:
        raise InvalidInput(f"toleration effect {effect!r}: use one of {', '.join(_EFFECTS[1:])}")
    if operator == "Exists" and tol.get("value"):
        raise InvalidInput("a toleration with operator 'Exists' takes no value")
    if "tolerationSeconds" in tol and effect != "NoExecute":
        raise InvalidInput("tolerationSeconds applies to the effect 'NoExecute' only")
    return tol


def _service_account(value: Any) -> str:
    from brisa.core import kubenames  # not at import: `import brisa` stays light

    if value and (not isinstance(value, str) or not kubenames.is_dns_subdomain(value)):
        raise InvalidInput(f"service_account {value!r} is not a valid ServiceAccount name")
    return str(value or "")


def override(value: Any) -> dict[str, Any]:
    """A partial Pod manifest: known fields only, and none the administrator locks; the
    strategic-merge directives `brisa.core.podpatch` supports, in their places."""
    from brisa.core.podpatch import patch_errors, without_directives

    fragment = dict(_mapping(value, "pod_override"))
    problems = patch_errors(fragment)
    if problems:
        raise InvalidInput(problems[0])
    _typed(without_directives(fragment), "Pod", "pod_override")
    locked = locked_paths(fragment)
    if locked:
        raise InvalidInput(
            f"pod_override sets {locked[0]}, which only the deployment's settings decide"
        )
    return dict(fragment)


def _typed(value: Any, type_name: str, what: str) -> Mapping[str, Any]:
    """`value` checked to hold only fields of the Kubernetes type `type_name`."""
    unknown = _unknown(_mapping(value, what), type_name, what)
    if unknown:
        raise InvalidInput(f"{unknown} is not a field of a Kubernetes {type_name}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not plain data a manifest can hold: {exc}") from None
    return dict(value)


def _unknown(value: Any, type_name: str, path: str) -> str | None:
    """The first field path in `value` its type does not have, or None."""
    known = _types().get(type_name)
    if known is None or not known:  # a type with free-form content (e.g. a quantity)
        return None
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, Mapping):
            continue
        for key, child in item.items():
            if key not in known:
                return f"{path}.{key}"
            child_type = known[key]
            found = _unknown(child, child_type, f"{path}.{key}") if child_type else None
            if found:
                return found
    return None


@functools.cache
def _types() -> dict[str, dict[str, str | None]]:
    text = _FIELDS.read_text()
    types: dict[str, dict[str, str | None]] = json.loads(text)["types"]
    return types


def schema_version() -> str:
    """The Kubernetes version whose pod schema `pod_override` is checked against."""
    text = _FIELDS.read_text()
    return str(json.loads(text)["version"])


def effective(dag_pod: PodSettings | None, task_pod: PodSettings | None) -> PodSettings | None:
    """A task's pod settings over its DAG's defaults (None when neither has any)."""
    if dag_pod is None or task_pod is None:
        return task_pod or dag_pod
    return task_pod.over(dag_pod)
