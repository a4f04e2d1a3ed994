"""Secrets never show in clear, wherever a task's output or a secret param reaches: task logs,
errors, return values, a run's conf and a DAG's details, through the REST API and the CLI.

Every secret below contains CANARY, and nothing any answer or log holds may contain it: a
secret from the worker's environment in a task's error, a shell task's last line (its return
value), a Python task's JSON return value, secret params (given in conf, or their default)
and a shell task's `env` variable named like a secret (docs/adr/0009-masking-secrets.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator

import pytest

from support.standalone import Standalone

CANARY = "canary"
ENV_SECRET = "canary-env-5d1f"  # MY_PASSWORD in the workers' environment
CONF_SECRET = "canary-conf-8e2a"  # the secret param, given in conf
DEFAULT_SECRET = "canary-default-3b7c"  # the secret param's default
SHELL_SECRET = "canary-shellenv-4a9e"  # a shell task's env={"DB_PASSWORD": ...}

DAGS = f"""
import os
from brisa import DAG, Param, shell, task

with DAG("leaky", params={{"api_key": Param({DEFAULT_SECRET!r}, secret=True), "region": "eu"}}):

    @task
    def fails(context):
        key = context.params["api_key"]
        raise RuntimeError(f"login refused for {{os.environ['MY_PASSWORD']}} with key {{key}}")

    @task
    def returns(context):
        key = context.params["api_key"]
        return {{"url": f"https://user:{{key}}@example.com", key: [os.environ["MY_PASSWORD"], 7]}}

    @task
    def consume(value):
        return value["url"]

    fails()
    consume(returns())
    shell("token", 'echo "token=$MY_PASSWORD"')
    shell("key", "echo key={{{{ params.api_key | shquote }}}}")
    shell(
        "db",
        'echo "connecting with $DB_PASSWORD"; echo "db=$DB_PASSWORD"',
        env={{"DB_PASSWORD": {SHELL_SECRET!r}}},
    )
"""
TASKS = ("fails", "returns", "consume", "token", "key", "db")


@pytest.fixture(scope="module")
def brisa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("secrets") / "home"
    env = {"BRISA__SCHEDULER__POLL_INTERVAL": "200ms", "MY_PASSWORD": ENV_SECRET}
    server = Standalone(home, env=env, copy_examples=False)
    (server.dags / "leaky.py").write_text(DAGS)
    server.start()
    try:
        server.wait_for_dag("leaky")
        yield server
    finally:
        server.stop()


def brisa_cli(brisa: Standalone, *args: str) -> str:
    """What a CLI command printed (stdout and stderr)."""
    env = {**os.environ, "BRISA_API_URL": brisa.url}
    done = subprocess.run(
        [sys.executable, "-m", "brisa", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def runs(brisa: Standalone) -> dict[str, str]:
    """Two finished runs, triggered and waited for by the CLI: one with the secret param in
    conf (table output), one with its default (JSON output); and what the CLI printed."""
    conf = json.dumps({"api_key": CONF_SECRET})
    table = brisa_cli(brisa, "dags", "trigger", "leaky", "--conf", conf, "--wait")
    first = table.splitlines()[0].removeprefix("triggered default/leaky run ")
    as_json = brisa_cli(brisa, "dags", "trigger", "leaky", "--wait", "-o", "json")
    second = json.loads(as_json)["run_id"]
    for run_id in (first, second):
        brisa.wait_for_run("leaky", run_id)
    return {first: table, second: as_json}


def task_path(brisa: Standalone, run_id: str, task_id: str) -> str:
    return f"{brisa.dag_path('leaky')}/runs/{urllib.parse.quote(run_id, safe='')}/tasks/{task_id}"


def test_a_task_error_holds_no_secret(brisa: Standalone, runs: dict[str, str]) -> None:
    for run_id, printed in runs.items():
        run = brisa.run("leaky", run_id)
        error = next(t["error"] for t in run["tasks"] if t["task_id"] == "fails")
        assert error == "RuntimeError: login refused for *** with key ***"
        detail = brisa.get(task_path(brisa, run_id, "fails"))
        assert detail["error"] == error and detail["attempts"][0]["error"] == error
        assert CANARY not in printed and "login refused for *** with key ***" in printed
        listed = brisa_cli(brisa, "tasks", "list", "leaky", run_id)
        assert "RuntimeError: login refused for *** with key ***" in listed


def test_return_values_hold_no_secret_and_downstream_tasks_get_them_masked(
    brisa: Standalone, runs: dict[str, str]
) -> None:
    for run_id in runs:
        values = {t: brisa.get(task_path(brisa, run_id, t))["return_value"] for t in TASKS}
        assert values == {
            "fails": None,
            "returns": {"url": "https://user:***@example.com", "***": ["***", 7]},
            "consume": "https://user:***@example.com",
            "token": "token=***",
            "key": "key=***",
            "db": "db=***",
        }


def test_secret_params_are_redacted_in_runs_and_dag_details(
    brisa: Standalone, runs: dict[str, str]
) -> None:
    for run_id in runs:
        run = brisa.run("leaky", run_id)
        assert run["conf"] == {"api_key": "***", "region": "eu"}
        assert run["state"] == "failed"
    listed = brisa.get(f"{brisa.dag_path('leaky')}/runs")["runs"]
    assert {r["run_id"] for r in listed} == set(runs)
    assert [r["conf"] for r in listed] == [{"api_key": "***", "region": "eu"}] * 2
    dag = brisa.get(brisa.dag_path("leaky"))
    assert dag["params"]["api_key"]["default"] == "***"
    assert dag["params"]["region"]["default"] == "eu"
    db = next(t for t in dag["spec"]["tasks"] if t["task_id"] == "db")
    assert db["env"] == {"DB_PASSWORD": "***"}
    assert CANARY not in json.dumps(dag)


def test_no_answer_and_no_output_holds_a_secret(brisa: Standalone, runs: dict[str, str]) -> None:
    seen = [json.dumps(brisa.get(brisa.dag_path("leaky")))]
    seen += [brisa_cli(brisa, "dags", "show", "leaky", *out) for out in ((), ("-o", "json"))]
    seen.append(json.dumps(brisa.get(f"{brisa.dag_path('leaky')}/runs")))
    seen += [brisa_cli(brisa, "runs", "list", "leaky", *out) for out in ((), ("-o", "json"))]
    for run_id, printed in runs.items():
        seen += [printed, json.dumps(brisa.run("leaky", run_id))]
        for out in ((), ("-o", "json")):
            seen.append(brisa_cli(brisa, "runs", "show", "leaky", run_id, *out))
            seen.append(brisa_cli(brisa, "tasks", "list", "leaky", run_id, *out))
        for task_id in TASKS:
            seen.append(json.dumps(brisa.get(task_path(brisa, run_id, task_id))))
            seen.append(brisa_cli(brisa, "tasks", "logs", "leaky", run_id, task_id))
    leaks = [text for text in seen if CANARY in text]
    assert not leaks, leaks
    logs = "".join(seen)
    assert "connecting with ***" in logs and "token=***" in logs and "key=***" in logs


def test_the_stored_files_hold_no_secret(brisa: Standalone, runs: dict[str, str]) -> None:
    """No clear value ever leaves the worker: not in the logs on disk, nor in the database
    (which keeps the secret params' values the workers need, and the DAG's own spec)."""
    for path in (brisa.home / "logs").rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    databases = [p for p in brisa.home.glob("*.db*") if p.is_file()]
    assert databases
    for path in databases:
        assert ENV_SECRET.encode() not in path.read_bytes(), path
