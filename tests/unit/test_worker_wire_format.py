"""The wire format between executors and the worker (`worker/env.py`): every field survives
the trip through the environment, the defaults are defined once, and what the settings say
reaches the worker through the executor."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from brisa.core.records import AttemptRef, CodeRef, WorkItem
from brisa.core.spec import ShellCommand, TaskSpec
from brisa.executor.base import LaunchRequest
from brisa.executor.local.executor import LocalExecutor
from brisa.logs.config import ShippingConfig
from brisa.settings import Settings, load
from brisa.system import System
from brisa.worker.env import (
    LOG_SERVER_FD,
    TOKEN_FD,
    WorkerEnv,
    private,
    receive_token,
    token_channel,
)

# A value for every field, none of them its default.
EVERYTHING = WorkerEnv(
    api_url="http://api.example:9000",
    token="attempt-token-123",
    dags_folder="/srv/dags",
    heartbeat_interval=2.5,
    report_timeout=61.25,
    logs=ShippingConfig(
        location="s3://bucket/logs",
        chunk_interval=0.75,
        chunk_bytes=4096,
        mask_env_pattern="(?i)hush",
        store_options={
            "endpoint_url": "http://127.0.0.1:9000",
            "access_key_id": "AKIA-ID",
            "secret_access_key": "very-secret-key",
            "allow_http": "true",
        },
        echo=True,
    ),
    repos_root="/srv/repos",
    code_cache="/srv/code",
    code_timeout=33.5,
    registry="/srv/workers",
    run_as_user="tasks",
    max_return_value_bytes=4096,
)


def leaves(env: WorkerEnv) -> dict[str, Any]:
    """Every field, the log's configuration flattened in."""
    values = {f.name: getattr(env, f.name) for f in dataclasses.fields(env) if f.name != "logs"}
    values.update({f"logs.{k}": v for k, v in env.logs._asdict().items()})
    return values


def test_the_sample_sets_every_field_to_something_else_than_its_default() -> None:
    defaults = leaves(WorkerEnv())
    same = [name for name, value in leaves(EVERYTHING).items() if value == defaults[name]]
    assert same == [], "give these fields a non-default value in EVERYTHING"


def test_every_field_but_the_token_survives_the_trip_through_the_environment() -> None:
    env = EVERYTHING.to_env()
    assert all(isinstance(v, str) for v in env.values())
    back = WorkerEnv.from_env(env)
    assert leaves(back) == {**leaves(EVERYTHING), "token": ""}
    assert back == dataclasses.replace(EVERYTHING, token="", logs=back.logs)  # the dataclass


def test_the_token_is_never_in_the_environment_but_on_a_socket_read_once() -> None:
    env = EVERYTHING.to_env()
    assert not [v for v in env.values() if "attempt-token-123" in v]
    fd = token_channel("attempt-token-123")
    try:
        with pytest.raises(OSError):  # /proc/PID/fd cannot open a socket again
            open(f"/proc/self/fd/{fd}", "rb")  # noqa: SIM115
        assert receive_token({TOKEN_FD: str(fd)}) == "attempt-token-123"
        with pytest.raises(OSError):
            os.fstat(fd)  # closed once read: the task's children do not inherit it
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    assert receive_token({}) == ""


def test_the_defaults_are_those_of_the_dataclass_and_survive_the_trip() -> None:
    assert WorkerEnv.from_env({}) == WorkerEnv()
    assert WorkerEnv.from_env(WorkerEnv().to_env()) == WorkerEnv()


def test_the_api_url_loses_its_trailing_slash() -> None:
    assert WorkerEnv.from_env({"BRISA_API_URL": "http://api:1/"}).api_url == "http://api:1"


def test_the_log_configuration_comes_from_the_environment_and_prints_redacted() -> None:
    config = WorkerEnv.from_env(
        {
            "BRISA_LOGS_LOCATION": "s3://bucket/logs",
            "BRISA_LOGS_CHUNK_INTERVAL": "1.5",
            "BRISA_LOGS_CHUNK_BYTES": "4096",
            "BRISA_LOGS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "BRISA_LOGS_S3_ACCESS_KEY_ID": "AKIA-ID",
            "BRISA_LOGS_S3_SECRET_ACCESS_KEY": "very-secret-key",
        }
    ).logs
    assert (config.chunk_interval, config.chunk_bytes) == (1.5, 4096)
    assert config.store_options["endpoint_url"] == "http://127.0.0.1:9000"
    assert config.secrets() == ["very-secret-key"]
    printed = str(config.redacted())
    assert "very-secret-key" not in printed and "AKIA-ID" not in printed


def test_the_printed_configuration_holds_no_secret() -> None:
    printed = str(EVERYTHING.redacted())
    for secret in ("attempt-token-123", "very-secret-key", "AKIA-ID"):
        assert secret not in printed
    assert "/srv/code" in printed and "33.5" in printed


def test_the_store_keys_and_the_token_channel_are_private_to_the_worker_process() -> None:
    """The worker removes private variables from its environment before the task runs: every
    secret value is in one, and the rest of the configuration stays readable."""
    env = EVERYTHING.to_env()
    public = {name: value for name, value in env.items() if not private(name)}
    assert private(TOKEN_FD) and not private("BRISA_API_URL")
    for secret in ("very-secret-key", "AKIA-ID"):
        assert secret in env.values() and secret not in public.values()
    assert WorkerEnv.from_env(public) == dataclasses.replace(
        EVERYTHING, token="", logs=EVERYTHING.logs._replace(store_options={})
    )


def settings_with(tmp_path: Path, toml: str) -> Settings:
    (tmp_path / "brisa.toml").write_text(toml)
    return load(tmp_path, environ={})


def test_the_settings_defaults_are_the_wire_formats(tmp_path: Path) -> None:
    """A worker started with nothing in its environment behaves as one started with the
    default settings."""
    sent = System(settings=load(tmp_path, environ={})).worker_env()
    default = WorkerEnv()
    assert sent.api_url == default.api_url
    for name in ("heartbeat_interval", "report_timeout", "code_timeout"):
        assert getattr(sent, name) == getattr(default, name), name
    for name in ("chunk_interval", "chunk_bytes", "mask_env_pattern"):
        assert getattr(sent.logs, name) == getattr(default.logs, name), name


def test_the_worker_settings_reach_the_worker_through_the_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with(
        tmp_path,
        '[worker]\nheartbeat_interval = "3s"\nreport_timeout = "2m"\ncode_timeout = "45s"\n'
        '[logs]\nchunk_interval = "750ms"\nchunk_bytes = 2048\n'
        's3_endpoint_url = "http://127.0.0.1:9000"\ns3_secret_access_key = "s3-secret"\n'
        "[api]\nport = 9100\n",
    )
    monkeypatch.setenv("BRISA__CORE__SECRET_KEY", "the-signing-key")
    monkeypatch.setenv("BRISA_HOME", str(tmp_path))
    launcher = CapturingLauncher()
    local = LocalExecutor(
        scope="t",
        parallelism=1,
        state_dir=tmp_path / "workers",
        worker=System(settings=settings).worker_env(),
        launch=launcher,
    )
    local.launch(LaunchRequest(AttemptRef(7, 2), "token-7-2", tmp_path / "7.log"))

    [env] = launcher.envs
    assert launcher.tokens == ["token-7-2"]  # handed apart from the environment
    got = WorkerEnv.from_env(env)
    assert (got.heartbeat_interval, got.report_timeout, got.code_timeout) == (3.0, 120.0, 45.0)
    assert (got.logs.chunk_interval, got.logs.chunk_bytes) == (0.75, 2048)
    assert got.logs.store_options == {
        "endpoint_url": "http://127.0.0.1:9000",
        "secret_access_key": "s3-secret",
    }
    assert got.api_url == "http://127.0.0.1:9100"
    assert "token-7-2" not in env.values()
    assert got.registry == str(tmp_path / "workers")
    assert got.code_cache == str(tmp_path / "code")
    assert got.repos_root == str(tmp_path / "repos")
    assert [name for name in env if name.startswith("BRISA__")] == []  # no settings
    assert "BRISA_HOME" not in env  # nor where the server keeps its state


class CapturingLauncher:
    def __init__(self) -> None:
        self.envs: list[dict[str, str]] = []
        self.tokens: list[str] = []

    def start(self, argv: list[str], env: Mapping[str, str], log_path: Path, token: str) -> int:
        self.envs.append(dict(env))
        self.tokens.append(token)
        return 2**22 + 1  # no such process: the executor records it and moves on


def test_the_worker_fetches_its_code_within_the_code_timeout_it_was_handed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from brisa.repos import materialise
    from brisa.worker import main

    seen: dict[str, Any] = {}

    def fake_materialise(code: CodeRef, **options: Any) -> Any:
        seen.update(options)
        raise materialise.CodeUnavailable("not here")

    monkeypatch.setattr(materialise, "materialise", fake_materialise)
    config = WorkerEnv.from_env({"BRISA_CODE_TIMEOUT": "45.5", "BRISA_CODE_CACHE": "/c"})
    when = datetime(2026, 1, 1, tzinfo=UTC)
    task = TaskSpec("a", ShellCommand("true"))
    item = WorkItem("t", "d", "a", "r", 1, when, when, when, {}, "d.py", "a" * 40, task, {})
    item = dataclasses.replace(item, code=CodeRef(repo="team", sha="a" * 40))
    outcome, held = main._run_task(item, config)
    assert (outcome.success, outcome.error, held) == (False, "not here", None)
    assert seen["timeout"] == 45.5 and seen["cache_root"] == Path("/c")


def test_only_a_worker_in_a_pod_echoes_its_log_to_stdout() -> None:
    from brisa.executor.kubernetes.podconfig import pod_worker_env
    from brisa.kubesettings import KubernetesSettings

    assert WorkerEnv().logs.echo is False  # local workers: their spool file is enough
    in_pod = pod_worker_env(WorkerEnv(), KubernetesSettings())
    assert WorkerEnv.from_env(in_pod.to_env()).logs.echo is True


def test_a_worker_pod_gets_its_code_from_the_object_store_not_the_schedulers_disk() -> None:
    from brisa.executor.kubernetes.podconfig import pod_worker_env
    from brisa.kubesettings import KubernetesSettings

    here = WorkerEnv(repos_root="/srv/brisa/repos", code_cache="/srv/brisa/code-cache")
    in_pod = WorkerEnv.from_env(pod_worker_env(here, KubernetesSettings()).to_env())
    assert (in_pod.repos_root, in_pod.code_cache) == ("", "/tmp/brisa-code")
    chosen = KubernetesSettings(code_cache="/var/cache/brisa")
    assert WorkerEnv.from_env(pod_worker_env(here, chosen).to_env()).code_cache == chosen.code_cache


def test_a_warm_process_builds_its_workers_configuration_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from brisa.worker import env, prebuilt

    monkeypatch.setattr(env, "_built", None)
    monkeypatch.setattr(prebuilt, "_current", None)
    environ = {**EVERYTHING.to_env(), "HOME": "/home/someone"}
    prebuilt.prebuild(environ)
    built = env.worker_env({**environ, TOKEN_FD: "7", "PWD": "/tmp"})
    assert built is env.worker_env(environ)  # the same object: nothing built in the worker
    assert built == dataclasses.replace(EVERYTHING, token="")
    # Its dump is what the worker would print for it once its token is set.
    made = prebuilt.prebuilt_for(built)
    assert made is not None and made.config is built
    assert made.dump == prebuilt.config_lines(dataclasses.replace(built, token="t").redacted())
    assert "attempt-token-123" not in "\n".join(made.dump)
    # A variable it reads that differs: built anew from this environment, not taken.
    other = env.worker_env({**environ, "BRISA_API_URL": "http://elsewhere:1"})
    assert other is not built and other.api_url == "http://elsewhere:1"
    extra = env.worker_env({**environ, "BRISA_LOGS_S3_REGION": "eu-west-3"})
    assert extra is not built and extra.logs.store_options == {
        **built.logs.store_options,
        "region": "eu-west-3",
    }


def test_a_warm_process_finds_its_workers_environment_secrets_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from brisa.worker import env, prebuilt

    monkeypatch.setattr(env, "_built", None)
    monkeypatch.setattr(prebuilt, "_current", None)
    environ = {**EVERYTHING.to_env(), "HOME": "/home/x", "DB_HUSH": "hunter2222"}
    prebuilt.prebuild(environ)
    made = prebuilt._current
    assert made is not None
    config = dataclasses.replace(made.config, token="attempt-token-123")
    # A worker's environment: the warm one with its own descriptors added.
    worker = {**environ, TOKEN_FD: "7", LOG_SERVER_FD: "8"}
    found = prebuilt.worker_secrets(config, worker, made)
    assert found == prebuilt.worker_secrets(config, worker)  # the same as without the prebuilt
    assert "hunter2222" in found and "attempt-token-123" in found
    # Another environment: its own secrets, found anew.
    changed = {**worker, "DB_HUSH": "other-secret"}
    again = prebuilt.worker_secrets(config, changed, made)
    assert "other-secret" in again and "hunter2222" not in again
    added = {**worker, "API_HUSH": "added-secret"}
    assert "added-secret" in prebuilt.worker_secrets(config, added, made)


def test_a_forked_worker_takes_exactly_the_environment_it_is_handed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from brisa.worker import env

    monkeypatch.setattr(env, "_known", None)
    monkeypatch.setenv("BRISA_TEST_KEPT", "1")
    monkeypatch.setenv("BRISA_TEST_DROPPED", "x")
    monkeypatch.setenv("BRISA_TEST_CHANGED", "old")
    monkeypatch.delenv("BRISA_TEST_ADDED", raising=False)
    env.know_environment()  # as the forking process does once
    wanted = {name: value for name, value in os.environ.items() if name != "BRISA_TEST_DROPPED"}
    wanted.update(BRISA_TEST_CHANGED="new", BRISA_TEST_ADDED="yes")
    env.take_environment(wanted)  # as its fork does
    assert dict(os.environ) == wanted
