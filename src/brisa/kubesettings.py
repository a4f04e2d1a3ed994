"""`[kubernetes]`: how the Kubernetes executor reaches the cluster and what its pods get.

Every key is checked when the settings load, so a mistake names the key and where it was set
(the file or the environment variable) before anything starts. Namespace and service account
are functions of the task's team: a template with `{team}` (`namespace = "brisa-{team}"`), or a
per-team table (`team_namespaces = { ml = "ml-jobs" }`) that wins over it. The pod template is
plain Pod YAML; PyYAML is imported only when one is configured, never by the worker.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brisa.core.kubenames import fitted_name, is_dns_label, key_error, label_value_error
from brisa.errors import ConfigError
from brisa.settingfields import checked, duration, mapping, seconds_of

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IMAGE = re.compile(
    r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?(:[0-9]+/[a-z0-9._/-]+)?"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
PULL_POLICIES = ("", "Always", "IfNotPresent", "Never")
DELETE_POLICIES = ("on_success", "always", "never")


def _name(value: str) -> str:
    if value and (len(value) > 253 or not _DNS_SUBDOMAIN.match(value)):
        raise ValueError(f"{value!r} is not a Kubernetes object name (lowercase DNS subdomain)")
    return value


def _namespace(value: str) -> str:
    if value and not is_dns_label(value):
        raise ValueError(
            f"{value!r} is not a namespace name (at most 63 lowercase letters, digits and '-')"
        )
    return value


def _namespace_template(value: str) -> str:
    _team_template(value)
    try:
        _namespace(value.replace("{team}", "team"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a namespace name (at most 63 lowercase letters, digits and '-'), "
            "with {team} standing for the team"
        ) from None
    return value


def _team_namespaces(value: Mapping[str, str]) -> Mapping[str, str]:
    for name in value.values():
        _namespace(name)
    return value


def _team_template(value: str) -> str:
    """A name, possibly with `{team}` in it: checked with a sample team."""
    rest = value.replace("{team}", "")
    if "{" in rest or "}" in rest:
        raise ValueError(f"{value!r}: the only placeholder is {{team}}")
    try:
        _name(value.replace("{team}", "team"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a Kubernetes object name (lowercase letters, digits, '-' and "
            "'.'), with {team} standing for the team"
        ) from None
    return value


def _names(value: str) -> str:
    for name in split(value):
        _name(name)
    return value


def _image(value: str) -> str:
    if value and not _IMAGE.match(value):
        raise ValueError(
            f"{value!r} is not an image reference; write e.g. 'ghcr.io/acme/brisa:1.4' or "
            "'ghcr.io/acme/brisa@sha256:<64 hex digits>'"
        )
    return value


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r}; use one of: {', '.join(c for c in choices if c)}")
        return value

    return check


def _url(value: str) -> str:
    if value and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def _pod_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path (a folder inside the pod)")
    return value


def _template_file(value: str) -> str:
    if value:
        load_pod_template(value)
    return value


def _team_templates(value: Mapping[str, str]) -> Mapping[str, str]:
    for path in value.values():
        load_pod_template(path)
    return value


def _team_durations(value: Mapping[str, str]) -> Mapping[str, str]:
    for text in value.values():
        seconds_of(text)
    return value


def _team_names(value: Mapping[str, str]) -> Mapping[str, str]:
    for name in value.values():
        _name(name)
    return value


def _labels(value: Mapping[str, str]) -> Mapping[str, str]:
    for key, text in value.items():
        problem = key_error(key) or label_value_error(text)
        if problem:
            raise ValueError(problem)
        if key.startswith("brisa.dev/"):
            raise ValueError(f"label {key!r}: labels beginning with brisa.dev/ are Brisa's own")
    return value


def _account_annotations(value: Mapping[str, str]) -> Mapping[str, str]:
    _annotations(value)
    for text in value.values():
        rest = text.replace("{team}", "")
        if "{" in rest or "}" in rest:
            raise ValueError(f"{text!r}: the only placeholder is {{team}}")
    return value


def _annotations(value: Mapping[str, str]) -> Mapping[str, str]:
    for key in value:
        problem = key_error(key, "annotation key")
        if problem:
            raise ValueError(problem)
    return value


@dataclass(frozen=True)
class KubernetesSettings:
    # The API: in the cluster (the pod's service account) unless `kubeconfig` (with an
    # optional `context`) or `server` (with `token_file` and `ca_file`) is set.
    kubeconfig: str = ""
    context: str = ""
    server: str = checked("", _url)
    token_file: str = ""
    ca_file: str = ""
    namespace: str = checked("brisa", _namespace_template)
    team_namespaces: Mapping[str, str] = mapping()
    worker_image: str = checked("", _image)
    image_pull_policy: str = checked("", _one_of(PULL_POLICIES))
    image_pull_secrets: str = checked("", _names)
    service_account: str = checked("", _team_template)
    team_service_accounts: Mapping[str, str] = mapping()
    task_service_accounts: str = checked("", _names)
    # Annotations of every team's task ServiceAccount (`brisa k8s rbac`), `{team}` in a value
    # standing for the team: a cloud identity per team (IRSA, Workload Identity).
    service_account_annotations: Mapping[str, str] = mapping()
    pod_template_file: str = checked("", _template_file)
    team_pod_template_files: Mapping[str, str] = mapping()
    labels: Mapping[str, str] = mapping()
    annotations: Mapping[str, str] = mapping()
    delete_policy: str = checked("on_success", _one_of(DELETE_POLICIES))
    keep_failed_for: float = duration(86400.0)
    # The `brisa.dev/deployment` label of this deployment's pods; empty: derived from the
    # database URL, the same for every scheduler that shares the database (ADR 0028).
    deployment: str = checked("", _namespace)
    # A Brisa pod whose task instance is not in the database is deleted once this old (ADR 0028).
    orphan_grace: float = duration(600.0)
    pending_timeout: float = duration(600.0)
    team_pending_timeouts: Mapping[str, str] = mapping()  # per team, over pending_timeout
    # Infrastructure failures (evicted, preempted, node lost, pod deleted by someone else)
    # retried without using up the task's retries, this many per task (0: they count).
    infra_retries: int = 3
    api_url_in_cluster: str = checked("", _url)
    # Where a worker pod unpacks its run's pinned commit (from the code tarball, or a fetch by
    # SHA): a folder of the pod's own; pods never see the scheduler's snapshots.
    code_cache: str = checked("/tmp/brisa-code", _pod_path)
    object_store_secret: str = checked("", _name)
    startup_checks: bool = True

    @property
    def access(self) -> str:
        """How the executor reaches the API: "in_cluster", "kubeconfig" or "server"."""
        return "kubeconfig" if self.kubeconfig else "server" if self.server else "in_cluster"

    def namespace_for(self, team: str) -> str:
        return self.team_namespaces.get(team) or _filled(self.namespace, team)

    def service_account_for(self, team: str) -> str:
        account = self.team_service_accounts.get(team, self.service_account)
        return _filled(account, team)

    def service_account_annotations_for(self, team: str) -> dict[str, str]:
        part = re.sub(r"[^a-z0-9-]", "-", team.lower())
        return {k: v.replace("{team}", part) for k, v in self.service_account_annotations.items()}

    def pending_timeout_for(self, team: str) -> float:
        found = self.team_pending_timeouts.get(team)
        return self.pending_timeout if found is None else seconds_of(found)

    def template_file_for(self, team: str) -> str:
        return self.team_pod_template_files.get(team, self.pod_template_file)

    def pull_secrets(self) -> tuple[str, ...]:
        return tuple(split(self.image_pull_secrets))

    def allowed_service_accounts(self) -> frozenset[str]:
        return frozenset(split(self.task_service_accounts))


# Per-key checks of the tables (applied by the loader like `checked`'s).
TABLE_CHECKS = {
    "team_namespaces": _team_namespaces,
    "team_service_accounts": _team_names,
    "team_pod_template_files": _team_templates,
    "team_pending_timeouts": _team_durations,
    "labels": _labels,
    "annotations": _annotations,
    "service_account_annotations": _account_annotations,
}


def _filled(template: str, team: str) -> str:
    """`template` with `{team}` as the team's name in lowercase, `_` as `-`; a name that would
    not fit in 63 characters, or is not valid even so, is shortened and hashed."""
    if "{team}" not in template:
        return template
    room = (63 - len(template.replace("{team}", ""))) // template.count("{team}")
    simple = re.sub(r"[^a-z0-9-]", "-", team.lower()).strip("-")
    part = simple if simple and len(simple) <= room else fitted_name(team, room)
    return template.replace("{team}", part)


def split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def check(settings: KubernetesSettings, executor_kind: str) -> None:
    """What only the keys together can say (each key alone was checked at load)."""
    if settings.kubeconfig and settings.server:
        raise ConfigError("[kubernetes] kubeconfig and server: set one (or neither: in-cluster)")
    if settings.server and not settings.token_file:
        raise ConfigError("[kubernetes] token_file: needed with [kubernetes] server")
    if (settings.token_file or settings.ca_file) and not settings.server:
        raise ConfigError("[kubernetes] token_file and ca_file go with [kubernetes] server")
    if settings.context and not settings.kubeconfig:
        raise ConfigError("[kubernetes] context goes with [kubernetes] kubeconfig")
    if executor_kind == "kubernetes" and not settings.worker_image:
        raise ConfigError(
            '[kubernetes] worker_image: needed with [executor] kind = "kubernetes"; the image '
            "of Brisa's worker, e.g. 'ghcr.io/acme/brisa:0.1.0'"
        )


@functools.cache
def load_pod_template(path: str) -> dict[str, Any]:
    """A pod template file: a YAML Pod with at least one container (ValueError says what is
    wrong). Read once per path."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read pod template {path}: {exc.strerror}") from None
    import yaml  # type: ignore[import-untyped]  # only when a template is configured: not on the worker's path

    try:
        pod = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"pod template {path} is not valid YAML: {exc}") from None
    if not isinstance(pod, dict) or pod.get("kind") != "Pod":
        raise ValueError(f"pod template {path} must be one YAML document with kind: Pod")
    containers = (pod.get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        raise ValueError(f"pod template {path} has no container in spec.containers")
    if not all(isinstance(c, dict) and c.get("name") for c in containers):
        raise ValueError(f"pod template {path}: every container needs a name")
    return pod
