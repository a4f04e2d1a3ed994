"""`brisa k8s rbac` prints, per team, what a platform team applies: valid YAML documents,
for the teams of the configuration or those named, without a cluster."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from brisa.cli.commands import cli
from brisa.executor.kubernetes.manifest import KUBERNETES_VERSION


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "dags").mkdir()
    path = tmp_path / "brisa.toml"
    path.write_text(
        f'[dags]\nfolder = "{tmp_path / "dags"}"\nteam = "analytics"\n'
        '[kubernetes]\nnamespace = "brisa-{team}"\nservice_account = "task-{team}"\n'
        'team_namespaces = { ml = "ml-jobs" }\n'
        "service_account_annotations = "
        '{ "eks.amazonaws.com/role-arn" = "arn:aws:iam::1:role/{team}" }\n'
    )
    return path


def rbac(config: Path, *args: str) -> tuple[int, str, list[dict[str, object]]]:
    result = CliRunner().invoke(
        cli, ["--config", str(config), "k8s", "rbac", *args], env={"BRISA_HOME": str(config.parent)}
    )
    documents = list(yaml.safe_load_all(result.stdout)) if result.exit_code == 0 else []
    return result.exit_code, result.output, documents


def names(documents: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])  # type: ignore[attr-defined]
        for d in documents
    ]


def test_every_configured_team_gets_its_objects_all_valid(config: Path) -> None:
    code, out, documents = rbac(config, "--namespaces", "--max-pods", "10")
    assert code == 0, out
    assert names(documents) == [
        ("ClusterRole", "", "brisa-token-review"),
        ("ClusterRoleBinding", "", "brisa-token-review"),
        ("Namespace", "", "brisa-analytics"),
        ("Role", "brisa-analytics", "brisa-executor"),
        ("RoleBinding", "brisa-analytics", "brisa-executor"),
        ("ServiceAccount", "brisa-analytics", "task-analytics"),
        ("ResourceQuota", "brisa-analytics", "brisa-pods"),
        ("Namespace", "", "ml-jobs"),
        ("Role", "ml-jobs", "brisa-executor"),
        ("RoleBinding", "ml-jobs", "brisa-executor"),
        ("ServiceAccount", "ml-jobs", "task-ml"),
        ("ResourceQuota", "ml-jobs", "brisa-pods"),
    ]
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_one_team_bound_to_the_named_executor(config: Path) -> None:
    code, out, documents = rbac(config, "--team", "ops", "--executor", "platform/runner")
    assert code == 0, out
    assert names(documents) == [
        ("ClusterRole", "", "brisa-token-review"),
        ("ClusterRoleBinding", "", "brisa-token-review"),
        ("Role", "brisa-ops", "brisa-executor"),
        ("RoleBinding", "brisa-ops", "brisa-executor"),
        ("ServiceAccount", "brisa-ops", "task-ops"),
    ]
    for binding in (documents[1], documents[3]):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "runner", "namespace": "platform"}
        ]
    for role in (documents[0], documents[2]):  # K7: no secrets verb, no pods/exec
        resources = {r for rule in role["rules"] for r in rule["resources"]}  # type: ignore[index]
        assert not resources & {"secrets", "pods/exec", "pods/attach"}
    assert documents[4]["metadata"]["annotations"] == {  # type: ignore[index]
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/ops"
    }


def test_a_bad_executor_account_is_refused(config: Path) -> None:
    code, out, _ = rbac(config, "--executor", "runner")
    assert code == 2 and "NAMESPACE/NAME" in out


def test_without_a_task_account_the_default_one_is_said_and_no_team_is_an_error(
    tmp_path: Path,
) -> None:
    config = tmp_path / "brisa.toml"
    config.write_text('[kubernetes]\nnamespace = "brisa-{team}"\n')
    code, out, _ = rbac(config)
    assert code == 2 and "no team is configured; name one with --team" in out
    code, out, documents = rbac(config, "--team", "ml")
    assert code == 0, out
    assert [d["kind"] for d in documents] == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ]
    assert "its pods run as the default ServiceAccount of brisa-ml" in out
