"""The one masking rule beyond the log stream (docs/adr/0009-masking-secrets.md): errors and
return values masked by the worker before it reports them, secret params and secret shell
`env` redacted by name wherever the control plane shows a run or a DAG."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from brisa import DAG, Param, shell, task
from brisa.authoring.serialize import serialize
from brisa.control.redaction import Redaction, redact_spec, spec_secrets
from brisa.core.records import AttemptRecord, DagRecord, RunRecord, TaskRecord, WorkItem
from brisa.core.spec import DagSpec, ShellCommand, TaskSpec
from brisa.core.states import RunState, TaskState
from brisa.logs.masking import DEFAULT_ENV_PATTERN, Masker, env_secrets, redact_conf
from brisa.worker import main as worker
from brisa.worker.runner import Outcome

NOW = datetime(2026, 3, 1, tzinfo=UTC)


# --- Text and JSON ---------------------------------------------------------------------------


def test_text_is_masked_like_the_log_stream() -> None:
    masker = Masker(["hunter22", "abcdef", "defghi", "pässwörd"])
    assert masker.mask_text("login hunter22 / abcdefghi / pässwörd!") == "login *** / *** / ***!"
    assert masker.mask_text("nothing secret") == "nothing secret"
    assert Masker().mask_text("hunter22") == "hunter22"


def test_json_strings_and_keys_are_masked_and_its_shape_is_kept() -> None:
    masker = Masker(["hunter22"])
    value = {
        "url": "https://u:hunter22@host",
        "hunter22": [1, 2.5, True, None, "x"],
        "nested": {"list": ["a hunter22 b", {"k": "hunter22"}]},
    }
    assert masker.mask_json(value) == {
        "url": "https://u:***@host",
        "***": [1, 2.5, True, None, "x"],
        "nested": {"list": ["a *** b", {"k": "***"}]},
    }
    assert value["url"] == "https://u:hunter22@host"  # the value itself is left alone


def test_json_values_are_taken_as_json_tuples_and_non_string_keys_included() -> None:
    masker = Masker(["hunter22", "123456"])
    assert masker.mask_json(("hunter22", 7)) == ["***", 7]
    assert masker.mask_json({123456: "x", 1: "y"}) == {"***": "x", "1": "y"}


def test_a_number_that_holds_a_secret_becomes_its_masked_text() -> None:
    masker = Masker(["123456"])
    assert masker.mask_json([123456, 91234567, 12345, 1234567.0]) == [
        "***",
        "9***7",
        12345,
        "***7.0",
    ]
    assert masker.mask_json(True) is True


def test_keys_that_mask_alike_become_one_the_last_wins() -> None:
    masker = Masker(["hunter22", "hunter33"])
    assert masker.mask_json({"hunter22": 1, "hunter33": 2}) == {"***": 2}


def test_without_secrets_json_passes_through_as_it_is() -> None:
    value = {"a": ("tuple",)}
    assert Masker().mask_json(value) is value
    assert Masker(["hunter22"]).mask_json(None) is None


# --- Redaction by name -----------------------------------------------------------------------


def _spec(*, secrets: bool = True) -> DagSpec:
    with DAG("d") as dag:
        if secrets:
            dag.params = {
                "api_key": Param("key-default", type="string", secret=True),
                "required_key": Param(type="string", secret=True),
                "region": Param("eu", type="string"),
            }
            shell("db", "true", env={"DB_PASSWORD": "pw-literal", "HOST": "h"})
        else:
            dag.params = {"n": Param(1)}
        shell("plain", "true", env={"HOST": "h"})

        @task
        def py() -> None:
            return None

        py()
    return serialize(dag, "d.py")


SPEC = _spec()


def test_secret_params_are_the_ones_the_spec_marks_secret() -> None:
    assert SPEC.secret_params() == ("api_key", "required_key")


def test_a_runs_conf_shows_secret_params_as_stars() -> None:
    conf = {"api_key": "key-1", "region": "eu", "pin": None}
    assert redact_conf(conf, {"api_key", "pin"}) == {"api_key": "***", "region": "eu", "pin": "***"}


def test_a_dag_spec_hides_secret_defaults_and_secret_env_and_nothing_else() -> None:
    shown = redact_spec(SPEC, DEFAULT_ENV_PATTERN)
    assert {n: (p.default, p.required) for n, p in shown.params.items()} == {
        "api_key": ("***", False),
        "required_key": (None, True),
        "region": ("eu", False),
    }
    assert {tid: getattr(t.body, "env", None) for tid, t in shown.tasks.items()} == {
        "db": {"DB_PASSWORD": "***", "HOST": "h"},
        "plain": {"HOST": "h"},
        "py": None,
    }
    assert SPEC.params["api_key"].default == "key-default"  # the spec itself is kept
    assert getattr(SPEC.tasks["db"].body, "env", {})["DB_PASSWORD"] == "pw-literal"
    assert getattr(redact_spec(SPEC, "^HOST$").tasks["plain"].body, "env", {}) == {"HOST": "***"}


def test_a_spec_without_secrets_is_shown_as_it_is() -> None:
    spec = _spec(secrets=False)
    assert redact_spec(spec, DEFAULT_ENV_PATTERN) is spec


def test_spec_secrets_are_the_shell_env_values_named_like_secrets() -> None:
    assert spec_secrets(SPEC, DEFAULT_ENV_PATTERN) == ["pw-literal"]
    assert spec_secrets(SPEC, "(broken") == ["pw-literal"]  # a broken pattern: the default


def test_an_empty_pattern_names_no_secret() -> None:
    assert spec_secrets(SPEC, "") == []
    assert env_secrets({"DB_PASSWORD": "pw-1", "HOME": "/root"}, "") == []
    assert getattr(redact_spec(SPEC, "").tasks["db"].body, "env", {})["DB_PASSWORD"] == "pw-literal"


# --- The worker: what it reports -------------------------------------------------------------


def work_item(task: TaskSpec, params: dict[str, Any], secret: list[str]) -> WorkItem:
    return WorkItem(
        team="t",
        dag_id="d",
        task_id=task.task_id,
        run_id="r",
        try_number=1,
        logical_date=NOW,
        data_interval_start=NOW,
        data_interval_end=NOW,
        params=params,
        fileloc="d.py",
        code_version="",
        task=task,
        upstream_values={},
        secret_params=tuple(secret),
    )


def shell_task(env: dict[str, str]) -> TaskSpec:
    return TaskSpec("db", ShellCommand("true", env=env))


def test_a_workers_task_secrets_are_its_secret_params_and_its_shell_env_named_like_secrets() -> (
    None
):
    env = {"DB_PASSWORD": "{{ params.pw }}-x", "API_TOKEN": "literal-tok", "HOST": "h0st"}
    item = work_item(shell_task(env), {"pw": "from-param", "key": "key-123"}, ["key"])
    assert sorted(worker._task_secrets(item, DEFAULT_ENV_PATTERN)) == [
        "from-param-x",
        "key-123",
        "literal-tok",
    ]
    broken = shell_task({"DB_PASSWORD": "{{ params.missing }}"})  # the task fails on it, later
    item = work_item(broken, {"pw": "from-param", "key": "key-123"}, ["key"])
    assert worker._task_secrets(item, DEFAULT_ENV_PATTERN) == ["key-123"]
    python = SPEC.tasks["py"]
    assert worker._task_secrets(work_item(python, {}, []), DEFAULT_ENV_PATTERN) == []


def test_the_worker_reports_errors_and_return_values_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    masker = ["hunter22"]
    failed = worker._masked(Outcome(False, error="RuntimeError: bad hunter22"), masker)
    assert failed == Outcome(False, None, "RuntimeError: bad ***")
    assert capsys.readouterr().out == ""
    done = worker._masked(Outcome(True, {"token": "hunter22", "n": 1}), masker)
    assert done == Outcome(True, {"token": "***", "n": 1})
    assert "the return value holds secrets" in capsys.readouterr().out
    same = worker._masked(Outcome(True, ("a", 1)), masker)
    assert same.return_value == ["a", 1] and capsys.readouterr().out == ""
    nothing = worker._masked(Outcome(True), masker)  # a no-op's: no value, no error
    assert nothing == Outcome(True) and capsys.readouterr().out == ""


# --- The control plane: what people are shown ------------------------------------------------


class Specs:
    """The one store verb Redaction uses, counting its calls."""

    def __init__(self, specs: dict[int, DagSpec]) -> None:
        self.specs = specs
        self.calls = 0

    def get_specs(self, ids: Any) -> dict[int, tuple[DagSpec, str]]:
        self.calls += 1
        return {i: (self.specs[i], "") for i in ids if i in self.specs}


def task_record(task_id: str, error: str | None) -> TaskRecord:
    return TaskRecord(1, 1, task_id, TaskState.FAILED, 1, error=error)


def run_record(version_id: int, conf: dict[str, Any]) -> RunRecord:
    tasks = {"db": task_record("db", "cannot log in with pw-literal, key key-1")}
    return RunRecord(1, "t", "d", "r", "manual", RunState.FAILED, version_id, NOW, NOW, NOW,
                     conf, NOW, tasks=tasks)  # fmt: skip


def test_runs_show_secret_params_redacted_and_task_errors_masked() -> None:
    store = Specs({1: SPEC})
    shown = Redaction(store, DEFAULT_ENV_PATTERN)  # type: ignore[arg-type]
    run = run_record(1, {"api_key": "key-1", "required_key": "req-2", "region": "eu"})
    [first] = shown.runs([run])
    assert first.conf == {"api_key": "***", "required_key": "***", "region": "eu"}
    assert first.tasks["db"].error == "cannot log in with ***, key ***"
    assert run.conf["api_key"] == "key-1"  # the record itself is kept
    assert shown.run(run) == first and store.calls == 1  # versions are immutable: cached


def test_a_task_its_return_value_and_its_attempts_are_masked() -> None:
    shown = Redaction(Specs({1: SPEC}), DEFAULT_ENV_PATTERN)  # type: ignore[arg-type]
    run = run_record(1, {"api_key": "key-1", "required_key": "req-2", "region": "eu"})
    attempt = AttemptRecord(1, 1, TaskState.FAILED, None, None, None, None, None, "key-1 bad")
    ti, value, attempts = shown.task(run, run.tasks["db"], {"k": "key-1"}, [attempt])
    assert ti.error == "cannot log in with ***, key ***"
    assert value == {"k": "***"} and attempts[0].error == "*** bad"


def test_a_run_of_a_version_without_secrets_or_gone_is_shown_as_it_is() -> None:
    shown = Redaction(Specs({2: _spec(secrets=False)}), DEFAULT_ENV_PATTERN)  # type: ignore[arg-type]
    for version_id in (2, 3):
        run = run_record(version_id, {"api_key": "key-1"})
        assert shown.run(run) is run


def test_a_dag_shows_its_spec_redacted() -> None:
    shown = Redaction(Specs({}), DEFAULT_ENV_PATTERN)  # type: ignore[arg-type]
    record = DagRecord("t", "d", "d.py", 1, True, False, NOW, SPEC)
    assert shown.dag(record).spec.params["api_key"].default == "***"
    plain = DagRecord("t", "d", "d.py", 1, True, False, NOW, _spec(secrets=False))
    assert shown.dag(plain) is plain
    assert json.dumps(shown.dag(record).spec.to_json()).count("***") == 2


def test_container_and_pod_env_named_like_secrets_are_hidden_too() -> None:
    from brisa import container

    with DAG("k8s") as dag:
        container("c", "alpine:3", env={"API_TOKEN": "tok-literal", "MODE": "x"})
        shell("s", "true", pod={"env": {"DB_PASSWORD": "pod-literal", "TZ": "UTC"}})
    spec = serialize(dag, "k8s.py")
    shown = redact_spec(spec, DEFAULT_ENV_PATTERN)
    assert dict(getattr(shown.tasks["c"].body, "env", {})) == {"API_TOKEN": "***", "MODE": "x"}
    pod = shown.tasks["s"].pod
    assert pod is not None and dict(pod.env) == {"DB_PASSWORD": "***", "TZ": "UTC"}
    assert sorted(spec_secrets(spec, DEFAULT_ENV_PATTERN)) == ["pod-literal", "tok-literal"]
