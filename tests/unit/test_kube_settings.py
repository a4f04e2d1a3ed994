"""`[kubernetes]` settings: every key checked at load, errors naming the key and its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from brisa.errors import ConfigError
from brisa.settings import load

POD = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: base\n"


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    (tmp_path / "brisa.toml").write_text(text)
    return load(tmp_path, environ=environ or {})


def test_the_kubernetes_executor_with_its_settings(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(POD)
    settings = _load(
        tmp_path,
        '[executor]\nkind = "kubernetes"\n[kubernetes]\nnamespace = "brisa-{team}"\n'
        'worker_image = "ghcr.io/acme/brisa@sha256:' + "a" * 64 + '"\n'
        f'pod_template_file = "{tmp_path / "pod.yaml"}"\n'
        'team_namespaces = { ml = "ml-jobs" }\nlabels = { "cost-center" = "data" }\n'
        'keep_failed_for = "2h"\nservice_account = "run-{team}"\n'
        'pending_timeout = "5m"\nteam_pending_timeouts = { ml = "30m", ops = "90" }\n',
        {"BRISA__KUBERNETES__ANNOTATIONS": "example.com/owner=data,x=y"},
    )
    k8s = settings.kubernetes
    assert settings.executor.kind == "kubernetes" and k8s.access == "in_cluster"
    assert k8s.namespace_for("Data_Eng") == "brisa-data-eng"
    assert k8s.namespace_for("ml") == "ml-jobs"
    long = k8s.namespace_for("a" * 80)
    assert len(long) <= 63 and long.startswith("brisa-aaa") and long != k8s.namespace_for("a" * 81)
    assert k8s.service_account_for("ml") == "run-ml"
    assert k8s.keep_failed_for == 7200
    pending = [k8s.pending_timeout_for(team) for team in ("ml", "ops", "data")]
    assert pending == [1800, 90, 300]
    assert dict(k8s.annotations) == {"example.com/owner": "data", "x": "y"}
    assert settings.redacted()["kubernetes"]["labels"] == {"cost-center": "data"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('namespace = "Brisa_{team}"', "[kubernetes] namespace: 'Brisa_{team}' is not"),
        ('namespace = "a.b"', "not a namespace name"),
        ('team_namespaces = { ml = "ML" }', "[kubernetes] team_namespaces: 'ML'"),
        ('namespace = "b-{teem}"', "the only placeholder is {team}"),
        ('worker_image = "brisa latest"', "[kubernetes] worker_image: 'brisa latest'"),
        ('worker_image = "b@sha256:abc"', "is not an image reference"),
        ('image_pull_policy = "Sometimes"', "[kubernetes] image_pull_policy: 'Sometimes'"),
        ('delete_policy = "later"', "use one of: on_success, always, never"),
        ('keep_failed_for = "soon"', "[kubernetes] keep_failed_for"),
        ('team_pending_timeouts = { ml = "soon" }', "[kubernetes] team_pending_timeouts: 'soon'"),
        ('labels = { "brisa.dev/team" = "x" }', "Brisa's own"),
        ('labels = { a = "not valid!" }', "label value 'not valid!'"),
        ('labels = "a"', "key=value pairs"),
        ('object_store_secret = "S3 keys"', "[kubernetes] object_store_secret"),
        ('api_url_in_cluster = "brisa-api:8080"', "not an http:// or https:// URL"),
        ('code_cache = "cache"', "[kubernetes] code_cache: 'cache' is not an absolute path"),
        ('pod_template_file = "/nonexistent/pod.yaml"', "cannot read pod template"),
        ('kubeconfig = "k"\nserver = "https://k8s"', "set one"),
        ('server = "https://k8s"', "[kubernetes] token_file: needed"),
        ('context = "prod"', "context goes with"),
        ("nope = 1", "unknown key [kubernetes] nope"),
    ],
)
def test_a_bad_key_is_named_with_its_source(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f"[kubernetes]\n{text}\n")
    assert says in str(info.value)


def test_an_environment_variable_is_named_as_the_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable BRISA__KUBERNETES__NAMESPACE"):
        _load(tmp_path, "", {"BRISA__KUBERNETES__NAMESPACE": "UPPER"})


def test_the_kubernetes_executor_needs_a_worker_image(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[kubernetes\] worker_image: needed"):
        _load(tmp_path, '[executor]\nkind = "kubernetes"\n')


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("kind: Pod\nspec: [unclosed\n", "is not valid YAML"),
        ("kind: Deployment\nspec: {}\n", "kind: Pod"),
        ("kind: Pod\nspec:\n  containers: []\n", "has no container"),
        ("kind: Pod\nspec:\n  containers:\n    - image: x\n", "needs a name"),
        ("kind: Pod\n---\nkind: Pod\n", "not valid YAML"),
    ],
)
def test_a_bad_pod_template_is_refused_at_load(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f'[kubernetes]\npod_template_file = "{path}"\n')
    assert says in str(info.value) and "[kubernetes] pod_template_file" in str(info.value)
