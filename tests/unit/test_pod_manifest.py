"""The pod manifest of an attempt: layered as K1 says, locked where it must be, secrets by
reference only (the execution token not at all: a projected service account token proves the
pod's identity, ADR 0029), and valid for Kubernetes (checked offline, strictly, with the official
schemas bundled in kubernetes-validate)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brisa import DAG, container, shell
from brisa.authoring.pods import settings as pod_settings
from brisa.authoring.serialize import serialize
from brisa.core.kubenames import is_dns_label, label_value_error
from brisa.core.spec import TaskSpec
from brisa.errors import InvalidInput
from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.manifest import KUBERNETES_VERSION, PodConfig, pod_manifest
from brisa.executor.kubernetes.naming import AttemptPod
from brisa.logs.config import ShippingConfig
from brisa.worker.env import POD_TOKEN_FILE, WorkerEnv, private

CANARY = "CANARY-s3-secret-7f3a"
TOKEN = "CANARY-token-91bd"
ATTEMPT = AttemptPod("prod", "data_eng", "etl", "manual__2026-01-01T00:00:00+00:00", "t", 42, 2)
TEMPLATE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"labels": {"tier": "batch"}},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "base",
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                "env": [{"name": "TZ", "value": "UTC"}],
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            },
            {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"},
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
    },
}
CONFIG = PodConfig(
    namespace="brisa-data-eng",
    worker_image="ghcr.io/acme/brisa:0.1.0",
    template=TEMPLATE,
    service_account="brisa-data-eng",
    allowed_service_accounts=frozenset({"trainer"}),
    image_pull_policy="IfNotPresent",
    image_pull_secrets=("ghcr",),
    labels={"cost-center": "data"},
    object_store_secret="brisa-object-store",
)
WORKER_ENV = WorkerEnv(
    api_url="http://brisa-api.brisa.svc:8080",
    logs=ShippingConfig(
        location="s3://acme/logs",
        store_options={"secret_access_key": CANARY, "access_key_id": CANARY, "region": "eu"},
    ),
).to_env()


def valid(manifest: dict[str, Any]) -> None:
    """Strictly valid (no unknown field) for the target Kubernetes version."""
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def spec_of(make: Any, dag_pod: dict[str, Any] | None = None) -> TaskSpec:
    with DAG("etl", pod=dag_pod) as dag:
        make()
    return next(iter(serialize(dag, "etl.py").tasks.values()))


def render(task: TaskSpec, config: PodConfig = CONFIG) -> dict[str, Any]:
    pod = pod_manifest(ATTEMPT, task, config, WORKER_ENV, scope="k8s")
    valid(pod)
    return pod


def main(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "base")


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_shell_task_runs_the_worker_with_its_settings_over_the_template() -> None:
    task = spec_of(
        lambda: shell(
            "t",
            "echo hi",
            pod={
                "requests": {"cpu": "2", "ephemeral-storage": "10Gi"},
                "limits": {"memory": "4Gi"},
                "env": {"TZ": "Europe/Paris", "MODE": "fast"},
                "node_selector": {"pool": "batch"},
                "tolerations": [{"key": "spot", "operator": "Equal", "value": "yes"}],
                "labels": {"app": "etl"},
                "annotations": {"example.com/owner": "data"},
            },
        )
    )
    pod = render(task)
    base = main(pod)
    assert pod["metadata"]["name"] == naming.pod_name("data_eng", 42, 2)
    assert pod["metadata"]["name"].startswith("brisa-data-eng-")  # `_` is not allowed
    assert pod["metadata"]["namespace"] == "brisa-data-eng"
    assert base["command"] == ["brisa", "task", "run"]
    assert base["args"] == ["--ti", "42", "--try", "2", "--scope", "k8s"]
    assert base["image"] == "ghcr.io/acme/brisa:0.1.0" and base["imagePullPolicy"] == "IfNotPresent"
    assert base["resources"] == {
        "requests": {"cpu": "2", "memory": "256Mi", "ephemeral-storage": "10Gi"},
        "limits": {"memory": "4Gi"},
    }
    variables = env(base)
    assert variables["TZ"] == "Europe/Paris" and variables["MODE"] == "fast"
    assert variables["BRISA_API_URL"] == "http://brisa-api.brisa.svc:8080"
    assert variables[POD_TOKEN_FILE] == "/var/run/secrets/brisa.dev/token"
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["tmp", "brisa-token"]
    assert [t["key"] for t in pod["spec"]["tolerations"]] == ["batch", "spot"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["serviceAccountName"] == "brisa-data-eng"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "ghcr"}]
    labels = pod["metadata"]["labels"]
    assert labels["tier"] == "batch" and labels["app"] == "etl" and labels["cost-center"] == "data"
    assert naming.attempt_from_labels(labels) == ATTEMPT.ref
    assert pod["metadata"]["annotations"]["brisa.dev/run-id"] == ATTEMPT.run_id
    assert [c["name"] for c in pod["spec"]["containers"]] == ["base", "proxy"]


def test_a_container_task_runs_its_own_image_with_gpus_and_affinity() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}
                ]
            }
        }
    }
    task = spec_of(
        lambda: container(
            "t",
            "ghcr.io/acme/train:1.4",
            command=["python", "-m", "train"],
            args=["--epochs", "3"],
            env={"MODE": "full"},
            resources={"limits": {"nvidia.com/gpu": 2, "memory": "32Gi"}},
            pod={"affinity": affinity, "service_account": "trainer"},
        )
    )
    pod = render(task)
    base = main(pod)
    assert base["image"] == "ghcr.io/acme/train:1.4"
    assert base["command"] == ["python", "-m", "train"] and base["args"] == ["--epochs", "3"]
    assert base["resources"]["limits"] == {"nvidia.com/gpu": "2", "memory": "32Gi"}
    assert env(base) == {"TZ": "UTC", "MODE": "full"}  # no worker environment, no token
    assert pod["spec"]["affinity"] == affinity
    assert pod["spec"]["serviceAccountName"] == "trainer"
    assert "brisa-token" not in json.dumps(pod)


def test_no_secret_value_is_anywhere_in_the_pod_and_keys_come_by_reference() -> None:
    pod = render(spec_of(lambda: shell("t", "echo")))
    text = json.dumps(pod)
    assert CANARY not in text and TOKEN not in text
    refs = {k: v for k, v in env(main(pod)).items() if isinstance(v, dict)}
    assert refs["BRISA_LOGS_S3_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "brisa-object-store"
    assert env(main(pod))["BRISA_LOGS_S3_REGION"] == "eu"  # not a secret: given as it is


def test_the_pod_proves_its_identity_with_a_projected_token_not_a_secret() -> None:
    pod = render(spec_of(lambda: shell("t", "echo")))
    volume = pod["spec"]["volumes"][-1]
    assert volume == {
        "name": "brisa-token",
        "projected": {
            "defaultMode": 0o400,
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": "brisa-execution",
                        "expirationSeconds": 600,
                        "path": "token",
                    }
                }
            ],
        },
    }
    mounts = main(pod)["volumeMounts"]
    assert {"name": "brisa-token", "mountPath": "/var/run/secrets/brisa.dev", "readOnly": True} in (
        mounts
    )
    assert "secret" not in json.dumps(pod["spec"]["volumes"])  # no Secret volume at all
    assert private(POD_TOKEN_FILE)  # the worker removes it before the task runs


def test_a_task_may_not_pick_a_service_account_it_is_not_allowed() -> None:
    task = spec_of(lambda: shell("t", "echo", pod={"service_account": "cluster-admin"}))
    with pytest.raises(InvalidInput, match="task_service_accounts: trainer"):
        pod_manifest(ATTEMPT, task, CONFIG, WORKER_ENV)


def test_a_worker_task_needs_a_worker_image() -> None:
    task = spec_of(lambda: shell("t", "echo"))
    no_image = PodConfig(namespace="brisa", worker_image="")
    with pytest.raises(InvalidInput, match=r"\[kubernetes\] worker_image"):
        pod_manifest(ATTEMPT, task, no_image, WORKER_ENV)


def test_a_locked_override_in_an_old_spec_is_refused_at_render() -> None:
    data = spec_of(lambda: shell("t", "echo")).to_json()
    data["pod"] = {"pod_override": {"spec": {"hostNetwork": True}}}
    with pytest.raises(InvalidInput, match=r"spec\.hostNetwork"):
        pod_manifest(ATTEMPT, TaskSpec.from_json(data), CONFIG, WORKER_ENV)


@pytest.mark.parametrize("team", ["a", "Data_Eng", "x" * 80, "équipe"])
def test_names_fit_kubernetes_for_any_team(team: str) -> None:
    name = naming.pod_name(team, 123456789, 12)
    assert is_dns_label(name) and is_dns_label(name + naming.TOKEN_SUFFIX)
    assert name.startswith("brisa-") and name.endswith("-123456789-12")
    assert naming.pod_name(team + "x", 1, 1) != naming.pod_name(team, 1, 1)


def test_the_selector_matches_the_labels_of_the_teams_pods() -> None:
    labels = naming.pod_labels(ATTEMPT)
    for part in naming.selector_for("prod", "data_eng").split(","):
        key, value = part.split("=")
        assert labels[key] == value
    assert naming.attempt_from_labels({"brisa.dev/ti": "1"}) is None


# --- the property: any valid task settings, merged onto the template -------------------------

_label = st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True)
_quantity = st.sampled_from(["100m", "1", "2", "512Mi", "1Gi", "1.5", "10G"])
_settings = st.fixed_dictionaries(
    {},
    optional={
        "requests": st.dictionaries(
            st.sampled_from(["cpu", "memory", "ephemeral-storage"]), _quantity
        ),
        "limits": st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), _quantity),
        "env": st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True), _label),
        "node_selector": st.dictionaries(_label, _label, max_size=3),
        "labels": st.dictionaries(_label, _label, max_size=3),
        "tolerations": st.lists(
            st.builds(lambda k: {"key": k, "operator": "Exists"}, _label), max_size=2
        ),
        "pod_override": st.fixed_dictionaries(
            {},
            optional={
                "spec": st.fixed_dictionaries(
                    {},
                    optional={
                        "containers": st.lists(
                            st.one_of(
                                st.builds(
                                    lambda n, i: {"name": n, "image": f"busybox:{i}"},
                                    st.sampled_from(["base", "proxy", "side"]),
                                    st.sampled_from(["1.36", "1.37"]),
                                ),
                                # strategic-merge patches (K1's escape hatch)
                                st.builds(
                                    lambda n: {"name": n, "$patch": "delete"},
                                    st.sampled_from(["proxy", "side"]),
                                ),
                                st.builds(
                                    lambda e: {"name": "base", "env": [e]},
                                    st.sampled_from(
                                        [{"name": "TZ", "$patch": "delete"}, {"name": "X"}]
                                    ),
                                ),
                            ),
                            max_size=3,
                        ),
                        "volumes": st.lists(
                            st.one_of(
                                st.builds(
                                    lambda n: {"name": n, "emptyDir": {}},
                                    st.sampled_from(["tmp", "data"]),
                                ),
                                st.builds(
                                    lambda n: {"name": n, "$patch": "delete"},
                                    st.sampled_from(["tmp", "data"]),
                                ),
                                st.just({"$patch": "replace"}),
                            ),
                            max_size=3,
                        ),
                        "nodeSelector": st.one_of(
                            st.just({"$patch": "delete"}),
                            st.builds(lambda v: {"$patch": "replace", "pool": v}, _label),
                        ),
                        "tolerations": st.just([{"$patch": "replace"}]),
                        "priorityClassName": _label,
                        "terminationGracePeriodSeconds": st.integers(0, 600),
                    },
                )
            },
        ),
    },
)


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in items]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_settings, _settings, st.sampled_from(["shell", "container"]))
def test_any_task_settings_keep_the_locked_fields_and_validate(
    raw: dict[str, Any], dag_raw: dict[str, Any], kind: str
) -> None:
    """Any DAG defaults and task settings, strategic-merge patches included, over the
    template: the locked fields stay, names stay unique, the pod is strictly valid."""
    options = {"pod": pod_settings(raw)}
    if kind == "shell":
        task = spec_of(lambda: shell("t", "echo", **options), dag_raw or None)
    else:
        make = lambda: container("t", "alpine:3.20", command=["true"], **options)  # noqa: E731
        task = spec_of(make, dag_raw or None)
    pod = pod_manifest(ATTEMPT, task, CONFIG, WORKER_ENV)
    valid(pod)
    spec, metadata = pod["spec"], pod["metadata"]
    assert metadata["namespace"] == CONFIG.namespace
    assert metadata["name"] == naming.pod_name(ATTEMPT.team, ATTEMPT.ti_id, ATTEMPT.try_number)
    assert {k: v for k, v in metadata["labels"].items() if k.startswith("brisa.dev/")} == {
        k: v for k, v in naming.pod_labels(ATTEMPT).items() if k.startswith("brisa.dev/")
    }
    assert spec["securityContext"] == TEMPLATE["spec"]["securityContext"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == CONFIG.service_account
    assert spec["restartPolicy"] == "Never"
    for items in (
        spec["containers"],
        spec.get("volumes", []),
        *(c.get("env", []) for c in spec["containers"]),
    ):
        assert len(_names(items)) == len(set(_names(items)))
    assert all(label_value_error(v) is None for v in metadata["labels"].values())
    assert CANARY not in json.dumps(pod)
    assert "$patch" not in json.dumps(pod)  # every directive applied, none sent


def test_a_patch_that_deletes_the_tasks_container_or_a_locked_field_is_refused() -> None:
    remove = {"pod_override": {"spec": {"containers": [{"name": "base", "$patch": "delete"}]}}}
    task = spec_of(lambda: shell("t", "echo", pod=remove))
    with pytest.raises(InvalidInput, match="removes the container 'base'"):
        pod_manifest(ATTEMPT, task, CONFIG, WORKER_ENV)
    data = spec_of(lambda: shell("t", "echo")).to_json()  # a spec stored before the check
    data["pod"] = {"pod_override": {"metadata": {"labels": {"$patch": "replace"}}}}
    with pytest.raises(InvalidInput, match=r"task t: pod_override\.metadata\.labels"):
        pod_manifest(ATTEMPT, TaskSpec.from_json(data), CONFIG, WORKER_ENV)
    data["pod"] = {"pod_override": {"spec": {"$retainKeys": ["containers"]}}}
    with pytest.raises(InvalidInput, match="not supported"):
        pod_manifest(ATTEMPT, TaskSpec.from_json(data), CONFIG, WORKER_ENV)


def test_a_patch_removes_a_sidecar_and_replaces_the_volumes_of_the_template() -> None:
    patch = {
        "spec": {
            "containers": [{"name": "proxy", "$patch": "delete"}],
            "volumes": [{"$patch": "replace"}, {"name": "tmp", "emptyDir": {"medium": "Memory"}}],
            "tolerations": [{"$patch": "replace"}, {"key": "gpu", "operator": "Exists"}],
        }
    }
    pod = render(spec_of(lambda: shell("t", "echo", pod={"pod_override": patch})))
    assert [c["name"] for c in pod["spec"]["containers"]] == ["base"]
    assert pod["spec"]["volumes"][0] == {"name": "tmp", "emptyDir": {"medium": "Memory"}}
    assert pod["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert pod["spec"]["securityContext"] == TEMPLATE["spec"]["securityContext"]
