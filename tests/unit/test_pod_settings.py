"""Pod settings and container tasks in DAG files: stored in the spec, refused where written."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from brisa import DAG, container, shell, task
from brisa.authoring.container import rendered
from brisa.authoring.loader import load_file
from brisa.authoring.pods import settings as pod_settings
from brisa.authoring.serialize import serialize
from brisa.core import quantity
from brisa.core.pod import merge
from brisa.core.spec import ContainerRun, DagSpec, TaskSpec
from brisa.errors import DagDefinitionError, InvalidInput


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1Gi", Decimal(1024**3)),
        ("1.5G", Decimal("1.5e9")),
        ("1e3", Decimal(1000)),
        (".5", Decimal("0.5")),
        (4, Decimal(4)),
    ],
)
def test_quantities_are_read_as_kubernetes_reads_them(text: str | int, value: Decimal) -> None:
    assert quantity.parse(text) == value


@pytest.mark.parametrize("text", ["lots", "1GB", "", "1 Gi", "Gi", "1.2.3", "nan", True])
def test_what_is_not_a_quantity_is_refused(text: object) -> None:
    with pytest.raises(InvalidInput):
        quantity.parse(text)  # type: ignore[arg-type]


def test_a_container_task_is_stored_with_its_pod_settings_over_the_dag_defaults() -> None:
    with DAG("k", pod={"node_selector": {"pool": "cpu"}, "labels": {"a": "b"}}) as dag:
        container(
            "train",
            "ghcr.io/acme/train:1.4",
            command=["python", "-m", "train"],
            args=["--ds", "{{ ds }}"],
            env={"MODE": "{{ params.mode }}"},
            resources={"limits": {"nvidia.com/gpu": 1, "memory": "2Gi"}},
            pod={"node_selector": {"pool": "gpu"}},
        )
    spec = dag.tasks["train"].to_spec()
    assert spec.body == ContainerRun(
        "ghcr.io/acme/train:1.4",
        ("python", "-m", "train"),
        ("--ds", "{{ ds }}"),
        {"MODE": "{{ params.mode }}"},
    )
    assert spec.pod is not None
    assert dict(spec.pod.limits) == {"nvidia.com/gpu": "1", "memory": "2Gi"}
    assert dict(spec.pod.node_selector) == {"pool": "gpu"}  # the task's own wins
    assert dict(spec.pod.labels) == {"a": "b"}
    again = TaskSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec and again.to_json() == spec.to_json()


def test_a_task_without_pod_settings_stores_no_pod_key() -> None:
    with DAG("plain") as dag:
        shell("s", "echo hi")
    assert "pod" not in dag.tasks["s"].to_spec().to_json()


def test_container_templates_are_filled_like_a_shell_tasks() -> None:
    body = ContainerRun("alpine:3", ("sh", "-c", "echo {{ params.x | shquote }}"), ("{{ ds }}",))
    out = rendered(body, {"ds": "2026-01-02", "params": {"x": "a b"}})
    assert out.command == ("sh", "-c", "echo 'a b'") and out.args == ("2026-01-02",)


@pytest.mark.parametrize(
    ("pod", "says"),
    [
        ({"requests": {"memory": "lots"}}, "'lots' is not a Kubernetes quantity"),
        ({"limits": {"cpu": "-1"}}, "negative"),
        ({"labels": {"team": "x" * 64}}, "over 63"),
        ({"labels": {"bad key!": "x"}}, "label key"),
        ({"pod_override": {"spec": {"containerz": []}}}, "pod_override.spec.containerz"),
        ({"pod_override": {"spec": {"containers": [{"name": "a", "imagee": "x"}]}}}, "imagee"),
        ({"pod_override": {"spec": {"securityContext": {}}}}, "spec.securityContext"),
        ({"pod_override": {"metadata": {"namespace": "other"}}}, "metadata.namespace"),
        ({"pod_override": {"metadata": {"labels": {"brisa.dev/team": "b"}}}}, "brisa.dev/team"),
        ({"pod_override": {"spec": {"securityContext": {"$patch": "delete"}}}}, "securityContext"),
        ({"pod_override": {"spec": {"$patch": "replace"}}}, 'pod_override.spec: "$patch"'),
        ({"pod_override": {"spec": {"containers": [{"$patch": "replace"}]}}}, "merge items"),
        (
            {"pod_override": {"spec": {"containers": [{"name": "base", "$patch": "replace"}]}}},
            "pod_override.spec.containers[base]",
        ),
        ({"pod_override": {"metadata": {"labels": {"$patch": "replace"}}}}, "Brisa's labels"),
        ({"pod_override": {"spec": {"volumes": [{"$patch": "delete"}]}}}, "needs the item's"),
        ({"pod_override": {"spec": {"dnsConfig": {"$patch": "nuke"}}}}, "'nuke' is not one"),
        ({"pod_override": {"$retainKeys": ["spec"]}}, "'$retainKeys' is not supported"),
        (
            {"pod_override": {"spec": {"$setElementOrder/volumes": [{"name": "a"}]}}},
            "'$setElementOrder/volumes' is not supported",
        ),
        (
            {"pod_override": {"spec": {"$deleteFromPrimitiveList/x": ["a"]}}},
            "'$deleteFromPrimitiveList/x' is not supported",
        ),
        ({"pod_override": {"spec": {"$pach": "delete"}}}, "'$pach' is not a strategic-merge"),
        (
            {"pod_override": {"spec": {"volumes": [{"name": "a", "$patch": "delete", "x": 1}]}}},
            "takes no other field",
        ),
        ({"pod_override": {"$patch": "delete"}}, "cannot delete the whole pod"),
        ({"tolerations": [{"key": "gpu", "operator": "Maybe"}]}, "operator 'Maybe'"),
        ({"tolerations": [{"key": "gpu", "operator": "Exists", "value": "x"}]}, "no value"),
        ({"tolerations": [{"keyy": "gpu"}]}, "toleration.keyy"),
        ({"affinity": {"nodeAffinity": {"required": {}}}}, "affinity.nodeAffinity.required"),
        ({"service_account": "Not_Valid"}, "ServiceAccount"),
        ({"cpu": "1"}, "unknown pod setting 'cpu'"),
        ({"image": "UPPER/case"}, "not an image reference"),
    ],
)
def test_bad_pod_settings_are_definition_errors_at_their_line(pod: dict, says: str) -> None:
    with DAG("bad"), pytest.raises(DagDefinitionError) as info:
        shell("s", "echo", pod=pod)
    assert says in str(info.value)
    assert info.value.filename == __file__ and info.value.lineno is not None


def test_a_bad_container_task_names_the_file_and_line_when_its_file_is_loaded(
    tmp_path: Path,
) -> None:
    (tmp_path / "d.py").write_text(
        "from brisa import DAG, container\n"
        "with DAG('d'):\n"
        "    container('t', 'alpine:3', command=['sh', '-c', 'echo {{ params.x }}'])\n"
    )
    dags, error = load_file(tmp_path / "d.py", tmp_path)
    assert dags == [] and error is not None
    assert error.lineno == 3 and "shquote" in error.message


def test_merge_by_name_maps_and_scalars() -> None:
    base = {
        "spec": {
            "containers": [{"name": "base", "image": "a", "env": [{"name": "X", "value": "1"}]}],
            "dnsPolicy": "A",
        }
    }
    over = {
        "spec": {
            "containers": [
                {"name": "base", "env": [{"name": "Y", "value": "2"}]},
                {"name": "side", "image": "s"},
            ],
            "dnsPolicy": "B",
        }
    }
    out = merge(base, over)
    assert out["spec"]["dnsPolicy"] == "B"
    first, second = out["spec"]["containers"]
    assert first["image"] == "a" and [e["name"] for e in first["env"]] == ["X", "Y"]
    assert second == {"name": "side", "image": "s"}
    assert base["spec"]["dnsPolicy"] == "A"  # inputs unchanged


TEMPLATE = {
    "spec": {
        "containers": [
            {"name": "base", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "proxy", "image": "envoy:1"},
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}],
        "nodeSelector": {"pool": "general", "zone": "a"},
        "dnsConfig": {"nameservers": ["1.1.1.1"]},
    }
}


def test_a_strategic_merge_patch_deletes_and_replaces_what_a_partial_pod_cannot() -> None:
    patch = pod_settings(
        {
            "pod_override": {
                "spec": {
                    "containers": [
                        {"name": "proxy", "$patch": "delete"},
                        {"name": "base", "env": [{"name": "A", "$patch": "delete"}]},
                    ],
                    "volumes": [{"$patch": "replace"}, {"name": "data", "emptyDir": {}}],
                    "nodeSelector": {"$patch": "replace", "pool": "gpu"},
                    "dnsConfig": {"$patch": "delete"},
                }
            }
        }
    )
    assert patch is not None
    out = merge(TEMPLATE, patch.pod_override)
    spec = out["spec"]
    assert spec["containers"] == [{"name": "base", "env": [{"name": "B", "value": "2"}]}]
    assert spec["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert "dnsConfig" not in spec
    assert "$patch" not in json.dumps(out)
    assert merge(TEMPLATE, {"spec": {"$patch": "merge", "hostname": "h"}})["spec"]["hostname"]


def test_a_dags_override_and_its_tasks_compose_and_still_patch_the_template() -> None:
    dag = pod_settings({"pod_override": {"spec": {"volumes": [{"name": "x", "emptyDir": {}}]}}})
    task_pod = pod_settings(
        {"pod_override": {"spec": {"volumes": [{"name": "tmp", "$patch": "delete"}]}}}
    )
    assert dag is not None and task_pod is not None
    both = task_pod.over(dag)
    volumes = merge(TEMPLATE, both.pod_override)["spec"]["volumes"]
    assert [v["name"] for v in volumes] == ["cache", "x"]
    # a later layer that adds the item again undoes the delete: it merges into the template's
    readd = pod_settings(
        {"pod_override": {"spec": {"volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}]}}}
    )
    assert readd is not None
    composed = readd.over(task_pod).pod_override
    assert "$patch" not in json.dumps(readd.over(task_pod).to_json())
    again = merge(TEMPLATE, composed)["spec"]["volumes"]
    assert again == [
        {"name": "tmp", "emptyDir": {"medium": "Memory"}},
        {"name": "cache", "emptyDir": {}},
    ]


def test_a_python_task_takes_pod_settings_too() -> None:
    @task(pod={"requests": {"cpu": "250m"}})
    def work() -> int:
        return 1

    with DAG("py") as dag:
        work()
    stored = json.loads(json.dumps(serialize(dag, "f.py").to_json()))
    pod = DagSpec.from_json(stored).tasks["work"].pod
    assert pod is not None and dict(pod.requests) == {"cpu": "250m"}
