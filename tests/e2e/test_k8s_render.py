"""`brisa k8s render DAG TASK` prints the pod a task would run in: valid, with the settings
of the configuration file and the task's own, without a cluster."""

from __future__ import annotations

import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from brisa.cli.commands import cli
from brisa.executor.kubernetes.manifest import KUBERNETES_VERSION

DAG_FILE = """
from brisa import DAG, Param, container, shell

with DAG("mixed", params={"day": Param("mon")}):
    container(
        "train",
        "ghcr.io/acme/train:1.4",
        command=["python", "-m", "train"],
        args=["--day", "{{ params.day }}"],
        resources={"limits": {"nvidia.com/gpu": 1}},
    )
    shell("notes", "echo written", pod={"requests": {"cpu": "100m"}, "labels": {"app": "notes"}})
    shell(
        "lean",
        "echo lean",
        pod={
            "pod_override": {
                "spec": {
                    "containers": [{"name": "proxy", "$patch": "delete"}],
                    "volumes": [{"$patch": "replace"}, {"name": "scratch", "emptyDir": {}}],
                }
            }
        },
    )
"""
TEMPLATE = """
apiVersion: v1
kind: Pod
spec:
  securityContext: {runAsNonRoot: true}
  containers:
    - name: base
      resources: {requests: {memory: 256Mi}}
    - name: proxy
      image: envoyproxy/envoy:v1.31.0
  volumes:
    - name: cache
      emptyDir: {}
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "mixed.py").write_text(textwrap.dedent(DAG_FILE))
    (tmp_path / "pod.yaml").write_text(TEMPLATE)
    (tmp_path / "brisa.toml").write_text(
        f'[dags]\nfolder = "{tmp_path / "dags"}"\nteam = "ml"\n'
        '[executor]\nkind = "kubernetes"\n'
        '[kubernetes]\nnamespace = "brisa-{team}"\nworker_image = "ghcr.io/acme/brisa:0.1"\n'
        f'pod_template_file = "{tmp_path / "pod.yaml"}"\n'
        'api_url_in_cluster = "http://brisa-api.brisa.svc:8080"\n'
    )
    return tmp_path


def render(home: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--config", str(home / "brisa.toml"), "k8s", "render", *args],
        env={"BRISA_HOME": str(home)},
    )  # fmt: skip
    return result.exit_code, result.output


def test_render_prints_a_valid_pod_with_the_tasks_settings(home: Path) -> None:
    code, out = render(home, "mixed", "notes")
    assert code == 0, out
    pod = yaml.safe_load(out)
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    base = pod["spec"]["containers"][0]
    assert pod["metadata"]["namespace"] == "brisa-ml"
    assert pod["metadata"]["labels"]["app"] == "notes"
    assert base["image"] == "ghcr.io/acme/brisa:0.1"
    assert base["resources"]["requests"] == {"memory": "256Mi", "cpu": "100m"}
    assert pod["spec"]["securityContext"] == {"runAsNonRoot": True}
    env = {e["name"]: e.get("value") for e in base["env"]}
    assert env["BRISA_API_URL"] == "http://brisa-api.brisa.svc:8080"


def test_render_fills_in_a_container_tasks_args_from_conf(home: Path) -> None:
    code, out = render(home, "mixed", "train", "--conf", '{"day": "fri"}')
    assert code == 0, out
    base = yaml.safe_load(out)["spec"]["containers"][0]
    assert base["args"] == ["--day", "fri"]
    assert base["resources"]["limits"] == {"nvidia.com/gpu": "1"}


def test_render_names_an_unknown_task(home: Path) -> None:
    code, out = render(home, "mixed", "nope")
    assert code == 2 and "no task 'nope'" in out


def test_render_shows_a_strategic_merge_patch_applied(home: Path) -> None:
    code, out = render(home, "mixed", "lean")
    assert code == 0, out
    pod = yaml.safe_load(out)
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["base"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["scratch", "brisa-token"]
    assert "$patch" not in out
    code, out = render(home, "mixed", "notes")
    assert [c["name"] for c in yaml.safe_load(out)["spec"]["containers"]] == ["base", "proxy"]


def test_render_refuses_a_patch_of_a_locked_field_naming_file_and_line(home: Path) -> None:
    (home / "dags" / "mixed.py").write_text(
        "from brisa import DAG, shell\n"
        "with DAG('mixed'):\n"
        "    shell('t', 'echo', pod={'pod_override': {'spec': {'$patch': 'replace'}}})\n"
    )
    code, out = render(home, "mixed", "t")
    assert code != 0
    assert "mixed.py" in out and "3" in out and 'pod_override.spec: "$patch"' in out
