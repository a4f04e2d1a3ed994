"""What a platform team sets up for the Kubernetes executor (`rbac.py`): every object strictly
valid for the target Kubernetes version, the executor's Role granting exactly the verbs the
start-up check probes (no `pods/exec`, no `secrets` verb at all: K7), the one cluster-scoped
grant (TokenReviews, for worker pods' identity) bound to Brisa's account only, task
ServiceAccounts bound to nothing and without an API token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from brisa.errors import ConfigError
from brisa.executor.kubernetes.api import ApiAccess, Forbidden, Json, NotFound
from brisa.executor.kubernetes.manifest import KUBERNETES_VERSION
from brisa.executor.kubernetes.rbac import (
    EXECUTOR_ACCESS,
    REVIEW_ACCESS,
    REVIEW_ROLE,
    ROLE,
    Setup,
    manifests,
    teams_of,
)
from brisa.executor.kubernetes.rest import RestApi
from brisa.kubesettings import KubernetesSettings
from brisa.settings import load

SETTINGS = KubernetesSettings(
    namespace="brisa-{team}",
    team_namespaces={"ml": "ml-jobs", "ml_eval": "ml-jobs"},
    service_account="brisa-task-{team}",
    service_account_annotations={
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/brisa-{team}",
        "iam.gke.io/gcp-service-account": "brisa-{team}@acme.iam.gserviceaccount.com",
    },
)
TEAMS = ("team-a", "team-b", "ml", "ml_eval", "Data_Eng")
FULL = Setup(namespaces=True, max_pods=20)


def of_kind(objects: list[Json], kind: str) -> list[Json]:
    return [o for o in objects if o["kind"] == kind]


def granted(role: Json) -> set[tuple[str, str]]:
    return {
        (verb, resource)
        for rule in role["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_every_object_is_strictly_valid() -> None:
    objects = manifests(SETTINGS, TEAMS, FULL)
    assert {o["kind"] for o in objects} == {
        "ClusterRole",
        "ClusterRoleBinding",
        "Namespace",
        "Role",
        "RoleBinding",
        "ServiceAccount",
        "ResourceQuota",
    }
    for manifest in objects:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_each_team_namespace_gets_the_role_bound_to_the_executor_once() -> None:
    objects = manifests(SETTINGS, TEAMS, Setup("platform", "brisa-sched"))
    namespaces = ["brisa-team-a", "brisa-team-b", "ml-jobs", "brisa-data-eng"]
    assert [r["metadata"]["namespace"] for r in of_kind(objects, "Role")] == namespaces
    for binding in of_kind(objects, "RoleBinding"):
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": ROLE,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "brisa-sched", "namespace": "platform"}
        ]
    assert of_kind(objects, "Namespace") == [] and of_kind(objects, "ResourceQuota") == []


def test_the_executor_role_grants_the_verbs_it_uses_and_nothing_more() -> None:
    (role, *_) = of_kind(manifests(SETTINGS, ["team-a"], Setup()), "Role")
    assert granted(role) == set(EXECUTOR_ACCESS)
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert "pods/exec" not in resources and "pods/attach" not in resources
    assert "*" not in resources | verbs and all(rule["apiGroups"] == [""] for rule in role["rules"])


def test_no_rendered_role_has_a_secrets_verb_or_pods_exec() -> None:
    objects = manifests(SETTINGS, TEAMS, FULL)
    roles = of_kind(objects, "Role") + of_kind(objects, "ClusterRole")
    assert len(roles) == 5
    for role in roles:
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert not resources & {"secrets", "pods/exec", "pods/attach", "*"}, role


def test_the_only_cluster_grant_is_token_reviews_for_brisas_account() -> None:
    objects = manifests(SETTINGS, TEAMS, Setup("platform", "brisa-sched"))
    (cluster_role,) = of_kind(objects, "ClusterRole")
    assert cluster_role["metadata"]["name"] == REVIEW_ROLE
    assert cluster_role["rules"] == [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}
    ]
    assert REVIEW_ACCESS == (("create", "tokenreviews", "authentication.k8s.io"),)
    (binding,) = of_kind(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == REVIEW_ROLE
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "brisa-sched", "namespace": "platform"}
    ]


def test_a_task_service_account_is_bound_to_nothing_and_gets_no_token() -> None:
    objects = manifests(SETTINGS, TEAMS, FULL)
    account = next(
        a
        for a in of_kind(objects, "ServiceAccount")
        if a["metadata"]["name"] == "brisa-task-team-a"
    )
    assert account["metadata"]["namespace"] == "brisa-team-a"
    assert account["automountServiceAccountToken"] is False
    bindings = of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding")
    subjects = [s for b in bindings for s in b["subjects"]]
    assert subjects and all(s["name"] == "brisa-scheduler" for s in subjects)
    opted_in = manifests(SETTINGS, ["team-a"], Setup(automount_token=True))
    assert of_kind(opted_in, "ServiceAccount")[0]["automountServiceAccountToken"] is True


def test_each_team_account_carries_its_own_cloud_identity() -> None:
    accounts = of_kind(manifests(SETTINGS, TEAMS, Setup()), "ServiceAccount")
    by_name = {a["metadata"]["name"]: a["metadata"]["annotations"] for a in accounts}
    assert by_name["brisa-task-data-eng"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/brisa-data-eng",
        "iam.gke.io/gcp-service-account": "brisa-data-eng@acme.iam.gserviceaccount.com",
    }
    assert by_name["brisa-task-ml-eval"]["eks.amazonaws.com/role-arn"].endswith("brisa-ml-eval")


def test_without_a_service_account_setting_no_account_is_printed() -> None:
    objects = manifests(KubernetesSettings(), ["team-a"], Setup())
    assert [o["kind"] for o in objects] == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ]
    assert objects[2]["metadata"]["namespace"] == "brisa"


def test_a_quota_caps_the_pods_of_each_team_namespace() -> None:
    quotas = of_kind(manifests(SETTINGS, ["team-a", "ml", "ml_eval"], FULL), "ResourceQuota")
    assert [(q["metadata"]["namespace"], q["spec"]["hard"]) for q in quotas] == [
        ("brisa-team-a", {"pods": "20"}),
        ("ml-jobs", {"pods": "20"}),
    ]


def test_the_teams_are_the_sources_owners_and_those_in_per_team_tables() -> None:
    settings = KubernetesSettings(
        team_namespaces={"ml": "ml-jobs"}, team_service_accounts={"ops": "ops-runner"}
    )
    assert teams_of(settings, ["default", "ml", "analytics"]) == [
        "analytics",
        "default",
        "ml",
        "ops",
    ]


class RecordingTransport:
    """Answers every call; records the SelfSubjectAccessReviews asked."""

    def __init__(self) -> None:
        self.reviews: list[tuple[str, str]] = []
        self.cluster: list[tuple[str, str, str]] = []

    def call(
        self, method: str, path: str, doing: str, params: dict[str, str] | None, body: Json | None
    ) -> Json:
        if path.endswith("/selfsubjectaccessreviews") and body is not None:
            attributes = body["spec"]["resourceAttributes"]
            sub = attributes.get("subresource")
            resource = f"{attributes['resource']}/{sub}" if sub else attributes["resource"]
            if attributes["namespace"]:
                self.reviews.append((attributes["verb"], resource))
            else:
                self.cluster.append((attributes["verb"], resource, attributes["group"]))
            return {"status": {"allowed": True}}
        return {"items": [], "metadata": {"resourceVersion": "1"}}

    @contextmanager
    def stream(
        self, path: str, doing: str, params: dict[str, str], read_timeout: float
    ) -> Iterator[Iterator[bytes]]:
        yield iter(())


def test_the_start_up_check_probes_exactly_what_the_role_grants() -> None:
    transport = RecordingTransport()
    RestApi(transport, ApiAccess(server="https://k8s")).check("brisa-team-a")
    (role, *_) = of_kind(manifests(SETTINGS, ["team-a"], Setup()), "Role")
    assert sorted(transport.reviews) == sorted(granted(role))
    assert len(transport.reviews) == len(set(transport.reviews))
    (cluster_role,) = of_kind(manifests(SETTINGS, ["team-a"], Setup()), "ClusterRole")
    cluster_granted = {
        (verb, resource, group)
        for rule in cluster_role["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for group in rule["apiGroups"]
    }
    assert transport.cluster == sorted(cluster_granted)


class NoReviewsTransport(RecordingTransport):
    """A server without the access review API, where listing pods is refused."""

    def call(
        self, method: str, path: str, doing: str, params: dict[str, str] | None, body: Json | None
    ) -> Json:
        if path.endswith("/selfsubjectaccessreviews"):
            raise NotFound(404, "NotFound", "the server could not find the requested resource")
        if path.endswith("/pods"):
            raise Forbidden(403, "Forbidden", 'cannot list resource "pods"')
        return super().call(method, path, doing, params, body)


def test_without_access_reviews_a_refused_list_is_reported_as_the_server_said() -> None:
    with pytest.raises(Forbidden, match='cannot list resource "pods"'):
        RestApi(NoReviewsTransport(), ApiAccess(server="https://k8s")).check("brisa-team-a")


def _load(tmp_path: Path, text: str) -> Any:
    (tmp_path / "brisa.toml").write_text(f"[kubernetes]\n{text}\n")
    return load(tmp_path, environ={}).kubernetes


def test_account_annotations_are_checked_at_load(tmp_path: Path) -> None:
    loaded = _load(tmp_path, 'service_account_annotations = { "iam.gke.io/x" = "r-{team}" }')
    assert loaded.service_account_annotations_for("Data_Eng") == {"iam.gke.io/x": "r-data-eng"}
    with pytest.raises(ConfigError, match=re.escape("service_account_annotations: 'r-{teem}'")):
        _load(tmp_path, 'service_account_annotations = { "a" = "r-{teem}" }')
    with pytest.raises(ConfigError, match=r"\[kubernetes\] service_account_annotations"):
        _load(tmp_path, 'service_account_annotations = { "not a key" = "x" }')
