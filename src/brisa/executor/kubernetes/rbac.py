"""What a platform team sets up for the Kubernetes executor, rendered from `[kubernetes]`
(`brisa k8s rbac`): per team, its namespace (optional), the executor's Role and RoleBinding
there, the team's task ServiceAccount and a ResourceQuota capping its pods (optional); once,
the ClusterRole that lets Brisa's API review a worker pod's token, and its binding.

`EXECUTOR_ACCESS` is every verb the executor uses in a namespace. The Role grants exactly
these, and the start-up check (`rest.RestApi.check`) probes exactly these, so the two cannot
drift. The executor has no `secrets` verb at all and never execs into a pod (K7): a worker pod
proves which attempt it is with a projected service account token, which Brisa's API checks
with a TokenReview (`REVIEW_ACCESS`, cluster-scoped: the only verb outside the team
namespaces; ADR 0029). A task ServiceAccount is bound to nothing: a task may not list pods or
read secrets, and its pods get no API token unless the platform opts in.

Pure: plain JSON dicts, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from brisa.core.kubenames import fitted_value
from brisa.executor.kubernetes.naming import MANAGED_BY, TEAM
from brisa.kubesettings import KubernetesSettings

Json = dict[str, Any]

# (verb, resource) for every call of the executor: the Role's rules and the start-up check.
EXECUTOR_ACCESS: tuple[tuple[str, str], ...] = (
    ("create", "pods"),
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("delete", "pods"),
    ("get", "pods/log"),
    ("list", "events"),
)
# (verb, resource, API group) at the cluster scope: Brisa's API reviews a pod's token.
REVIEW_ACCESS: tuple[tuple[str, str, str], ...] = (
    ("create", "tokenreviews", "authentication.k8s.io"),
)
ROLE = "brisa-executor"
REVIEW_ROLE = "brisa-token-review"
QUOTA = "brisa-pods"


@dataclass(frozen=True)
class Setup:
    """What the settings do not say: who the executor runs as (the scheduler's
    ServiceAccount, `executor_namespace`/`executor_account`), whether to render Namespaces,
    the pods a team may have at once (`max_pods`, a ResourceQuota; 0: no quota) and whether
    task pods may get their account's API token (`automount_token`)."""

    executor_namespace: str = "brisa"
    executor_account: str = "brisa-scheduler"
    namespaces: bool = False
    max_pods: int = 0
    automount_token: bool = False


def rules() -> list[Json]:
    """The Role's rules: one per resource, verbs in `EXECUTOR_ACCESS` order."""
    verbs: dict[str, list[str]] = {}
    for verb, resource in EXECUTOR_ACCESS:
        verbs.setdefault(resource, []).append(verb)
    return [{"apiGroups": [""], "resources": [r], "verbs": v} for r, v in verbs.items()]


def manifests(settings: KubernetesSettings, teams: Iterable[str], setup: Setup) -> list[Json]:
    """Every object for `teams`, in the order to apply them; an object two teams share (a
    namespace, its Role) appears once, the token review's ClusterRole and binding first."""
    seen: set[tuple[str, str, str]] = set()
    objects: list[Json] = review_manifests(setup)
    for team in teams:
        for manifest in team_manifests(settings, team, setup):
            meta = manifest["metadata"]
            key = (manifest["kind"], meta.get("namespace", ""), meta["name"])
            if key not in seen:
                seen.add(key)
                objects.append(manifest)
    return objects


def review_manifests(setup: Setup) -> list[Json]:
    """The ClusterRole of `REVIEW_ACCESS` and its binding to Brisa's account (the API checks
    worker pods' tokens with it: run Brisa's API under that account too)."""
    labels = {MANAGED_BY: "brisa"}
    api = "rbac.authorization.k8s.io/v1"
    rules: dict[tuple[str, str], list[str]] = {}
    for verb, resource, group in REVIEW_ACCESS:
        rules.setdefault((group, resource), []).append(verb)
    role: Json = {
        "apiVersion": api,
        "kind": "ClusterRole",
        "metadata": {"name": REVIEW_ROLE, "labels": labels},
        "rules": [
            {"apiGroups": [group], "resources": [resource], "verbs": verbs}
            for (group, resource), verbs in rules.items()
        ],
    }
    binding: Json = {
        "apiVersion": api,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": REVIEW_ROLE, "labels": dict(labels)},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": REVIEW_ROLE,
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": setup.executor_account,
                "namespace": setup.executor_namespace,
            }
        ],
    }
    return [role, binding]


def team_manifests(settings: KubernetesSettings, team: str, setup: Setup) -> list[Json]:
    namespace = settings.namespace_for(team)
    objects: list[Json] = []
    if setup.namespaces:
        objects.append(_object("Namespace", namespace, "", team))
    objects.append(_role(namespace, team))
    objects.append(_binding(namespace, team, setup))
    account = settings.service_account_for(team)
    if account:
        objects.append(_task_account(settings, team, account, namespace, setup))
    if setup.max_pods:
        quota = _object("ResourceQuota", QUOTA, namespace, team)
        quota["spec"] = {"hard": {"pods": str(setup.max_pods)}}
        objects.append(quota)
    return objects


def _object(kind: str, name: str, namespace: str, team: str) -> Json:
    metadata: Json = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {MANAGED_BY: "brisa", TEAM: fitted_value(team)}
    api = "rbac.authorization.k8s.io/v1" if kind in ("Role", "RoleBinding") else "v1"
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


def _role(namespace: str, team: str) -> Json:
    role = _object("Role", ROLE, namespace, team)
    role["rules"] = rules()
    return role


def _binding(namespace: str, team: str, setup: Setup) -> Json:
    binding = _object("RoleBinding", ROLE, namespace, team)
    binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE}
    binding["subjects"] = [
        {
            "kind": "ServiceAccount",
            "name": setup.executor_account,
            "namespace": setup.executor_namespace,
        }
    ]
    return binding


def _task_account(
    settings: KubernetesSettings, team: str, account: str, namespace: str, setup: Setup
) -> Json:
    """The team's task ServiceAccount: no Role binds it; its cloud identity (if any) in its
    annotations."""
    manifest = _object("ServiceAccount", account, namespace, team)
    annotations = settings.service_account_annotations_for(team)
    if annotations:
        manifest["metadata"]["annotations"] = annotations
    manifest["automountServiceAccountToken"] = setup.automount_token
    return manifest


def teams_of(settings: KubernetesSettings, source_teams: Iterable[str]) -> list[str]:
    """The teams the settings know: those owning a DAG source and those named in a per-team
    table of `[kubernetes]`, sorted."""
    named = (
        set(settings.team_namespaces)
        | set(settings.team_service_accounts)
        | set(settings.team_pod_template_files)
    )
    return sorted(named | set(source_teams))
