"""The pod an attempt runs in, as a plain manifest: pure, no Kubernetes client imported.

`pod_manifest` builds it in layers (K1): the team's pod template, then the task's pod settings
(the DAG's defaults already under them, `brisa.core.pod`), then the task's `pod_override`,
merged by `brisa.core.pod.merge`. What Brisa decides comes last and cannot be overridden: the
name, namespace and Brisa's labels and annotations, the service account (a task may pick one
of `allowed_service_accounts`), `restartPolicy: Never`, and for Python and shell tasks the
image, command and worker environment. The template alone may set the locked security fields.

No secret value is written into the pod. A worker pod proves which attempt it runs with a
projected service account token (audience `podidentity.AUDIENCE`, short-lived, bound to the
pod), which the execution API exchanges for the attempt's token once (ADR 0029): there is no
token Secret, and the executor needs no `secrets` verb. The object store's keys come from
`object_store_secret` through `secretKeyRef`s.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brisa.core.pod import LABEL_PREFIX, PodSettings, locked_paths, merge
from brisa.core.podpatch import patch_errors
from brisa.core.spec import ContainerRun, TaskSpec
from brisa.errors import InvalidInput
from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.naming import AttemptPod
from brisa.executor.kubernetes.podidentity import AUDIENCE, EXPIRATION
from brisa.worker.env import POD_TOKEN_FILE, S3_PREFIX
from brisa.worker.oomwatch import OWN_CGROUP

KUBERNETES_VERSION = "1.32"  # the API version manifests are checked against (tests)
CONTAINER = "base"  # Brisa's container, unless the template's first container has a name
TOKEN_VOLUME = "brisa-token"
TOKEN_DIR = "/var/run/secrets/brisa.dev"
TOKEN_KEY = "token"  # the projected token's file in TOKEN_DIR
# The object store's credentials, as keys of `object_store_secret`, and the worker variables
# that receive them (`brisa.worker.env`, S3_PREFIX).
SECRET_KEYS = ("access_key_id", "secret_access_key", "session_token")


@dataclass(frozen=True)
class PodConfig:
    """A team's pod settings, from `[kubernetes]` (the composition root resolves the team)."""

    namespace: str
    worker_image: str
    template: Mapping[str, Any] = field(default_factory=dict)
    service_account: str = ""
    allowed_service_accounts: frozenset[str] = frozenset()
    image_pull_policy: str = ""
    image_pull_secrets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    object_store_secret: str = ""


def pod_manifest(
    attempt: AttemptPod,
    task: TaskSpec,
    config: PodConfig,
    worker_env: Mapping[str, str],
    *,
    body: ContainerRun | None = None,
    scope: str = "",
) -> dict[str, Any]:
    """The attempt's Pod. `worker_env` is `WorkerEnv.to_env()`; `body` is a container task's
    body with its templates filled in (`brisa.authoring.container.rendered`)."""
    settings = task.pod or PodSettings()
    locked = locked_paths(settings.pod_override)
    if locked:  # refused when the DAG was parsed; a spec stored before that check exists
        raise InvalidInput(f"task {task.task_id}: pod_override sets {locked[0]}, which is locked")
    problems = patch_errors(settings.pod_override)
    if problems:  # the same: refused at parse, checked again for stored specs
        raise InvalidInput(f"task {task.task_id}: {problems[0]}")
    template = copy.deepcopy(dict(config.template))
    name = _container_name(template)
    pod = merge(template, _task_fragment(settings, name))
    pod = merge(pod, settings.pod_override)
    pod_name = naming.pod_name(attempt.team, attempt.ti_id, attempt.try_number)
    _fill_metadata(pod, pod_name, attempt, config, name)
    spec = pod["spec"]
    spec["restartPolicy"] = "Never"
    spec.setdefault("automountServiceAccountToken", False)
    _fill_service_account(spec, config, settings, task.task_id)
    if config.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in config.image_pull_secrets]
    main = next((c for c in spec["containers"] if c.get("name") == name), None)
    if main is None:
        raise InvalidInput(f"task {task.task_id}: pod_override removes the container {name!r}")
    if isinstance(task.body, ContainerRun):
        _fill_container_task(main, body or task.body)
    else:
        image = settings.image or config.worker_image
        if not image:
            raise InvalidInput("no worker image: set [kubernetes] worker_image")
        _fill_worker(main, attempt, image, worker_env, config.object_store_secret, scope)
        _mount_token(spec, main)
    if config.image_pull_policy:
        main["imagePullPolicy"] = config.image_pull_policy
    head = {"apiVersion": "v1", "kind": "Pod", "metadata": pod.pop("metadata")}
    return {**head, "spec": pod.pop("spec"), **pod}


def _container_name(template: dict[str, Any]) -> str:
    """The container that runs the task: the template's `base`, else its first, else a new
    `base`."""
    containers = template.setdefault("spec", {}).setdefault("containers", [])
    names = [c.get("name") for c in containers]
    if CONTAINER in names or not names:
        if not names:
            containers.append({"name": CONTAINER})
        return CONTAINER
    return str(names[0])


def _task_fragment(settings: PodSettings, container: str) -> dict[str, Any]:
    """The task's pod settings as a pod manifest fragment."""
    main: dict[str, Any] = {"name": container}
    resources = {
        k: dict(v) for k, v in (("requests", settings.requests), ("limits", settings.limits)) if v
    }
    if resources:
        main["resources"] = resources
    if settings.env:
        main["env"] = [{"name": k, "value": v} for k, v in settings.env.items()]
    if settings.image:
        main["image"] = settings.image
    spec: dict[str, Any] = {"containers": [main]}
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.affinity:
        spec["affinity"] = _plain(settings.affinity)
    if settings.tolerations:
        spec["tolerations"] = [_plain(t) for t in settings.tolerations]
    metadata = {
        k: dict(v)
        for k, v in (("labels", settings.labels), ("annotations", settings.annotations))
        if v
    }
    return {"metadata": metadata, "spec": spec}


def _plain(value: Any) -> Any:
    return merge({}, {"v": value})["v"]


def _fill_metadata(
    pod: dict[str, Any], name: str, attempt: AttemptPod, config: PodConfig, container: str
) -> None:
    pod.pop("apiVersion", None), pod.pop("kind", None)
    metadata = pod.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        own = metadata.get(key, {})
        if any(k.startswith(LABEL_PREFIX) for k in own):
            raise InvalidInput(f"{key} beginning with {LABEL_PREFIX} are Brisa's own")
        metadata[key] = {**dict(getattr(config, key)), **own}
    metadata["labels"].update(naming.pod_labels(attempt))
    metadata["annotations"].update(naming.pod_annotations(attempt, container))
    metadata["name"], metadata["namespace"] = name, config.namespace
    metadata.pop("generateName", None)


def _fill_service_account(
    spec: dict[str, Any], config: PodConfig, settings: PodSettings, task_id: str
) -> None:
    chosen = settings.service_account
    if chosen and chosen not in config.allowed_service_accounts:
        allowed = ", ".join(sorted(config.allowed_service_accounts)) or "none"
        raise InvalidInput(
            f"task {task_id} asks for service account {chosen!r}, which this team's tasks may "
            f"not use ([kubernetes] task_service_accounts: {allowed})"
        )
    account = chosen or config.service_account
    spec.pop("serviceAccount", None)
    if account:
        spec["serviceAccountName"] = account
    else:
        spec.pop("serviceAccountName", None)


def _fill_container_task(main: dict[str, Any], body: ContainerRun) -> None:
    """A container task: the author's image and argv; its env over the template's."""
    main["image"] = body.image
    if body.command:
        main["command"] = list(body.command)
    else:
        main.pop("command", None)
    main["args"] = list(body.args)
    env = [{"name": k, "value": v} for k, v in body.env.items()]
    main["env"] = _by_name([*main.get("env", []), *env])


def _fill_worker(
    main: dict[str, Any],
    attempt: AttemptPod,
    image: str,
    worker_env: Mapping[str, str],
    object_store_secret: str,
    scope: str,
) -> None:
    """A Python or shell task: `brisa task run` in the worker image (or the task's image,
    which must have Brisa installed), with the worker's environment."""
    main["image"] = image
    main["command"] = ["brisa", "task", "run"]
    main["args"] = ["--ti", str(attempt.ti_id), "--try", str(attempt.try_number)]
    if scope:
        main["args"] += ["--scope", scope]
    env = [{"name": k, "value": v} for k, v in worker_env.items() if not _secret_variable(k)]
    env.append({"name": POD_TOKEN_FILE, "value": f"{TOKEN_DIR}/{TOKEN_KEY}"})
    # The container's cgroup is the attempt's own: the worker names an OOM kill in it (K5).
    env.append({"name": OWN_CGROUP, "value": main["name"]})
    env += _object_store_refs(object_store_secret)
    main["env"] = _by_name([*main.get("env", []), *env])


def _mount_token(spec: dict[str, Any], main: dict[str, Any]) -> None:
    """The pod's projected service account token for Brisa's execution API (audience
    AUDIENCE, renewed by the kubelet), as a read-only file of the task's container."""
    mount = {"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True}
    main["volumeMounts"] = _by_name([*main.get("volumeMounts", []), mount])
    token = {"audience": AUDIENCE, "expirationSeconds": EXPIRATION, "path": TOKEN_KEY}
    volume = {
        "name": TOKEN_VOLUME,
        "projected": {"defaultMode": 0o400, "sources": [{"serviceAccountToken": token}]},
    }
    spec["volumes"] = _by_name([*spec.get("volumes", []), volume])


def _secret_variable(name: str) -> bool:
    return name in {S3_PREFIX + key.upper() for key in SECRET_KEYS}


def _object_store_refs(secret: str) -> list[dict[str, Any]]:
    if not secret:
        return []
    return [
        {
            "name": S3_PREFIX + key.upper(),
            "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
        }
        for key in SECRET_KEYS
    ]


def _by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per name, the last one winning, in the order names first appear."""
    merged: dict[str, dict[str, Any]] = {}
    for item in items:
        merged[item["name"]] = item
    return list(merged.values())
