"""The `brisa` CLI against a real standalone process: what a user types and what they see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from support.standalone import ApiError, Standalone, free_port

EXAMPLES = ("etl_orders", "flaky_with_retries", "shell_pipeline")

# A DAG of this suite: one shell task that sleeps, to follow a live log and to cancel a run.
SLEEPER = """
from brisa import DAG, shell

with DAG("cli_sleeper", params={"seconds": 30}):
    shell("nap", "echo 'going to sleep'; sleep {{ params.seconds | shquote }}; echo 'woke up'")
"""

# A DAG whose task ids sort the other way round from the graph: start -> middle -> a_end.
ORDERED = """
from brisa import DAG, shell

with DAG("cli_order"):
    start = shell("start", "echo started")
    middle = shell("middle", "echo failing; exit 3")
    a_end = shell("a_end", "echo cleaning up", trigger_rule="all_done")
    start >> middle >> a_end
"""
ORDER = ["start", "middle", "a_end"]


@pytest.fixture(scope="module")
def brisa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("cli") / "home"
    server = Standalone(home, env={"BRISA__SCHEDULER__POLL_INTERVAL": "200ms"})
    (server.dags / "cli_sleeper.py").write_text(SLEEPER)
    (server.dags / "cli_order.py").write_text(ORDERED)
    server.start()
    try:
        for dag_id in (*EXAMPLES, "cli_sleeper", "cli_order"):
            server.wait_for_dag(dag_id)
        yield server
    finally:
        server.stop()


def brisa_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRISA_API_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "brisa", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(brisa: Standalone, *args: str) -> str:
    result = brisa_cli(brisa.url, *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def refused(brisa: Standalone, *args: str) -> str:
    """Run a command that must fail on bad input: exit 2, one message, no traceback."""
    result = brisa_cli(brisa.url, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    return result.stderr


@pytest.fixture(scope="module")
def etl_run(brisa: Standalone) -> dict[str, Any]:
    """A finished, successful run of etl_orders (read-only for the tests using it)."""
    run = brisa.trigger("etl_orders")
    return dict(brisa.wait_for_run("etl_orders", run["run_id"]))


# --- dags ----------------------------------------------------------------------------------


def test_dags_list_prints_an_aligned_table(brisa: Standalone) -> None:
    lines = ok(brisa, "dags", "list").splitlines()

    assert lines[0].split() == ["DAG", "SCHEDULE", "PAUSED", "NEXT", "RUN", "TAGS"]
    etl = next(line for line in lines if line.startswith("default/etl_orders "))
    assert "0 3 * * * (Europe/Berlin)" in etl and " no " in etl
    assert etl.index("0 3 *") == lines[0].index("SCHEDULE")
    assert "default/flaky_with_retries" in "\n".join(lines)


def test_dags_list_json_is_the_apis_answer(brisa: Standalone) -> None:
    listed = json.loads(ok(brisa, "dags", "list", "--output", "json"))
    assert {d["dag_id"] for d in listed["dags"]} >= set(EXAMPLES)

    other = json.loads(ok(brisa, "dags", "list", "--team", "nobody", "-o", "json"))
    assert other == {"dags": []}


def test_dags_show_resolves_a_bare_id_and_lists_params_and_tasks(brisa: Standalone) -> None:
    out = ok(brisa, "dags", "show", "etl_orders")

    assert "default/etl_orders" in out
    assert "Europe/Berlin" in out
    assert "min_amount" in out and "Ignore smaller orders" in out
    for task_id in ("extract", "transform", "load"):
        assert task_id in out
    shown = json.loads(ok(brisa, "dags", "show", "default/etl_orders", "-o", "json"))
    assert [t["task_id"] for t in shown["tasks"]] == ["extract", "load", "transform"]


def test_pause_and_unpause(brisa: Standalone) -> None:
    assert (
        ok(brisa, "dags", "pause", "shell_pipeline").strip() == "default/shell_pipeline is paused"
    )
    assert brisa.get(brisa.dag_path("shell_pipeline"))["is_paused"] is True

    ok(brisa, "dags", "unpause", "default/shell_pipeline")
    assert brisa.get(brisa.dag_path("shell_pipeline"))["is_paused"] is False


# --- dags trigger ----------------------------------------------------------------------------


def test_trigger_wait_exits_0_when_the_run_succeeds(brisa: Standalone) -> None:
    out = ok(brisa, "dags", "trigger", "etl_orders", "--conf", '{"min_amount": 20}', "--wait")

    run_id = out.splitlines()[0].removeprefix("triggered default/etl_orders run ")
    assert out.splitlines()[-1] == f"run {run_id} success"
    assert "load: success" in out
    run = brisa.run("etl_orders", run_id)
    assert run["state"] == "success" and run["conf"] == {"min_amount": 20}


def test_trigger_wait_exits_1_when_the_run_fails(brisa: Standalone) -> None:
    result = brisa_cli(
        brisa.url,
        *("dags", "trigger", "flaky_with_retries", "--conf", '{"fail_for_good": true}'),
        *("--run-id", "cli:fails+for-good", "--wait", "--output", "json"),
    )

    assert result.returncode == 1, result.stderr
    run = json.loads(result.stdout)
    assert run["run_id"] == "cli:fails+for-good"
    assert run["state"] == "failed"
    states = {t["task_id"]: t["state"] for t in run["tasks"]}
    assert states == {"flaky": "success", "maybe_fail": "failed", "notify_failure": "success"}


def test_trigger_with_conf_the_dag_rejects_exits_2(brisa: Standalone) -> None:
    before = len(brisa.get(f"{brisa.dag_path('etl_orders')}/runs")["runs"])

    err = refused(brisa, "dags", "trigger", "etl_orders", "--conf", '{"min_amount": -1}')

    assert err == "error: param 'min_amount' must be >= 0, got -1\n"
    assert len(brisa.get(f"{brisa.dag_path('etl_orders')}/runs")["runs"]) == before
    err = refused(brisa, "dags", "trigger", "etl_orders", "--conf", '{"min_amuont": 1}')
    assert "unknown param(s) min_amuont" in err


@pytest.mark.parametrize("run_id", [".", ".."])
def test_a_run_id_that_a_path_cannot_hold_is_refused_with_a_4xx(
    brisa: Standalone, run_id: str
) -> None:
    before = len(brisa.get(f"{brisa.dag_path('etl_orders')}/runs")["runs"])

    err = refused(brisa, "dags", "trigger", "etl_orders", "--run-id", run_id)

    assert err == f"error: run id {run_id!r} is not allowed: '.' and '..' name folders\n"
    with pytest.raises(ApiError) as caught:
        brisa.post(f"{brisa.dag_path('etl_orders')}/runs", {"run_id": run_id})
    assert caught.value.status == 400
    assert len(brisa.get(f"{brisa.dag_path('etl_orders')}/runs")["runs"]) == before


def test_trigger_with_invalid_json_conf_exits_2(brisa: Standalone) -> None:
    err = refused(brisa, "dags", "trigger", "etl_orders", "--conf", "{min_amount: 1}", "--wait")
    assert err.startswith("error: --conf is not valid JSON: ")

    err = refused(brisa, "dags", "trigger", "etl_orders", "--conf", "[1, 2]")
    assert "--conf must be a JSON object" in err


def test_unknown_dags_exit_2(brisa: Standalone) -> None:
    err = refused(brisa, "dags", "trigger", "no_such_dag", "--wait")
    assert "no DAG 'no_such_dag'" in err and "brisa dags list" in err

    err = refused(brisa, "runs", "list", "default/no_such_dag")
    assert "no DAG default/no_such_dag" in err


# --- runs and tasks --------------------------------------------------------------------------


def test_runs_list_and_show(brisa: Standalone, etl_run: dict[str, Any]) -> None:
    run_id = etl_run["run_id"]
    table = ok(brisa, "runs", "list", "etl_orders")
    assert table.splitlines()[0].split()[:3] == ["RUN", "ID", "STATE"]
    assert any(line.split()[:2] == [run_id, "success"] for line in table.splitlines())

    listed = json.loads(ok(brisa, "runs", "list", "etl_orders", "--state", "success", "-o", "json"))
    assert run_id in [r["run_id"] for r in listed["runs"]]
    assert {r["state"] for r in listed["runs"]} == {"success"}
    one = json.loads(ok(brisa, "runs", "list", "etl_orders", "--limit", "1", "-o", "json"))
    assert len(one["runs"]) == 1

    shown = ok(brisa, "runs", "show", "etl_orders", run_id)
    assert f"run id:       {run_id}" in shown
    assert "state:        success" in shown
    assert json.loads(ok(brisa, "runs", "show", "etl_orders", run_id, "-o", "json")) == etl_run


def test_tasks_list(brisa: Standalone, etl_run: dict[str, Any]) -> None:
    lines = ok(brisa, "tasks", "list", "etl_orders", etl_run["run_id"]).splitlines()

    assert lines[0].split() == ["TASK", "STATE", "TRY", "STARTED", "ENDED", "ERROR"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    assert rows == {"extract": ["success", "1"], "load": ["success", "1"],
                    "transform": ["success", "1"]}  # fmt: skip
    started = lines[1].split()[3]
    assert started.endswith("Z") and "." not in started  # ISO 8601, to the second


def test_tasks_logs_print_what_the_task_printed(brisa: Standalone, etl_run: dict[str, Any]) -> None:
    out = ok(brisa, "tasks", "logs", "etl_orders", etl_run["run_id"], "extract")
    assert "extracting orders for " in out

    out = ok(brisa, "tasks", "logs", "etl_orders", etl_run["run_id"], "load", "--try", "1", "-f")
    assert "ada: 60.25" in out

    err = refused(brisa, "tasks", "logs", "etl_orders", etl_run["run_id"], "load", "--try", "2")
    assert "ask for try 1..1" in err


def test_tasks_logs_follow_a_running_task_to_its_end(brisa: Standalone) -> None:
    run = brisa.trigger("cli_sleeper", {"seconds": 1})

    out = ok(brisa, "tasks", "logs", "cli_sleeper", run["run_id"], "nap", "--follow")

    assert out.index("going to sleep") < out.index("woke up")
    assert brisa.wait_for_run("cli_sleeper", run["run_id"])["state"] == "success"


def test_tasks_clear_runs_tasks_again_and_mark_sets_their_state(brisa: Standalone) -> None:
    run_id = brisa.trigger("etl_orders")["run_id"]
    brisa.wait_for_run("etl_orders", run_id)

    out = ok(brisa, "tasks", "clear", "etl_orders", run_id, "transform", "--downstream")

    assert out.strip() == "cleared load, transform"
    run = brisa.wait_for_run("etl_orders", run_id)
    tries = {t["task_id"]: (t["state"], t["try_number"]) for t in run["tasks"]}
    assert tries == {"extract": ("success", 1), "transform": ("success", 2),
                     "load": ("success", 2)}  # fmt: skip

    assert ok(
        brisa, "tasks", "mark", "etl_orders", run_id, "load", "--state", "failed"
    ).strip() == ("marked load failed")
    assert brisa.wait_for_run("etl_orders", run_id)["state"] == "failed"
    err = refused(brisa, "tasks", "clear", "etl_orders", run_id, "nope")
    assert "has no task(s) nope" in err


def test_runs_cancel(brisa: Standalone) -> None:
    run_id = brisa.trigger("cli_sleeper")["run_id"]
    brisa.wait_until(
        lambda: brisa.run("cli_sleeper", run_id)["tasks"][0]["state"] == "running",
        20,
        "the nap to start",
    )

    assert ok(brisa, "runs", "cancel", "cli_sleeper", run_id).strip() == f"run {run_id} cancelled"

    run = brisa.wait_for_run("cli_sleeper", run_id)
    assert run["state"] == "cancelled"
    again = ok(brisa, "runs", "cancel", "cli_sleeper", run_id)
    assert again.strip() == f"run {run_id} is already cancelled; nothing to cancel"


# --- resolving names and reaching the API ------------------------------------------------


class _TwoTeams(BaseHTTPRequestHandler):
    """A stand-in API where two teams have a DAG called `etl`."""

    def do_GET(self) -> None:  # the name http.server calls
        body = json.dumps(
            {"dags": [{"team": "b", "dag_id": "etl"}, {"team": "a", "dag_id": "etl"}]}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


# --- pools ---------------------------------------------------------------------------------


def test_pools_set_list_show_and_delete(brisa: Standalone) -> None:
    made = ok(
        brisa, "pools", "set", "default", "cli_gpu", "--slots", "2", "--description", "2 GPUs"
    )
    assert made == "pool default/cli_gpu: 2 slots, 0 in use\n"
    lines = ok(brisa, "pools", "list", "default").splitlines()
    assert lines[0].split() == [
        "POOL", "SLOTS", "USED", "QUEUED", "RUNNING", "FREE", "WAITING", "DESCRIPTION"
    ]  # fmt: skip
    assert lines[1].split()[:2] == ["default_pool", "128"], "the default pool comes first"
    assert next(line for line in lines if line.startswith("cli_gpu ")).split() == [
        "cli_gpu", "2", "0", "0", "0", "2", "0", "2", "GPUs"
    ]  # fmt: skip
    shown = ok(brisa, "pools", "list", "default", "cli_gpu")
    assert "Holding slots: 0" in shown and "Waiting for a slot: 0" in shown
    listed = json.loads(ok(brisa, "pools", "list", "default", "-o", "json"))
    assert {p["name"] for p in listed["pools"]} >= {"default_pool", "cli_gpu"}

    assert ok(brisa, "pools", "delete", "default", "cli_gpu") == "pool default/cli_gpu deleted\n"
    assert "cli_gpu" not in ok(brisa, "pools", "list", "default")


def test_bad_pool_input_exits_2_with_what_to_do(brisa: Standalone) -> None:
    assert "slots" in refused(brisa, "pools", "set", "default", "cli_gpu", "--slots", "-1")
    assert "letters, digits" in refused(brisa, "pools", "set", "default", "a b", "--slots", "1")
    assert "no team 'nobody'" in refused(brisa, "pools", "list", "nobody")
    assert "brisa pools set default nope" in refused(brisa, "pools", "delete", "default", "nope")


def test_an_ambiguous_bare_id_lists_the_candidates() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TwoTeams)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = brisa_cli(url, "dags", "trigger", "etl")
    finally:
        server.shutdown()
        server.server_close()

    assert result.returncode == 2
    assert result.stderr == (
        "error: DAG id 'etl' exists in several teams (a/etl, b/etl); name one\n"
    )


def test_an_unreachable_api_exits_2_with_a_hint() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = brisa_cli("http://127.0.0.1:9", "runs", "list", "etl_orders", "--api-url", url)

    assert result.returncode == 2
    assert result.stderr == (
        f"error: cannot reach Brisa at {url}; is `brisa standalone` running? "
        "(set --api-url or BRISA_API_URL)\n"
    )


# --- the order of a run's tasks, and logs of the latest run ----------------------------------


def test_the_tasks_of_a_run_are_listed_in_the_order_of_the_dag(brisa: Standalone) -> None:
    result = brisa_cli(brisa.url, "dags", "trigger", "cli_order", "--wait")
    assert result.returncode == 1, result.stderr
    run_id = result.stdout.splitlines()[0].removeprefix("triggered default/cli_order run ")
    # Every state change is reported, a poll's changes in the DAG's order: no task is reported
    # after a task downstream of it.
    reported = [
        task_id
        for line in result.stdout.splitlines()
        for task_id in ORDER
        if f" {task_id}: " in line
    ]
    assert set(reported) == set(ORDER)
    assert reported == sorted(reported, key=ORDER.index), result.stdout

    rows = ok(brisa, "tasks", "list", "cli_order", run_id).splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [
        ["start", "success"], ["middle", "failed"], ["a_end", "success"]
    ]  # fmt: skip
    shown = ok(brisa, "runs", "show", "cli_order", run_id).split("\n\n")[-1].splitlines()[1:]
    assert [row.split()[0] for row in shown] == ORDER
    run = json.loads(ok(brisa, "runs", "show", "cli_order", run_id, "-o", "json"))
    assert [t["task_id"] for t in run["tasks"]] == ORDER
    listed = json.loads(ok(brisa, "tasks", "list", "cli_order", run_id, "-o", "json"))
    assert [t["task_id"] for t in listed["tasks"]] == ORDER


def test_tasks_logs_without_a_run_id_read_the_latest_run(brisa: Standalone) -> None:
    older = brisa.trigger("cli_order")["run_id"]
    brisa.wait_for_run("cli_order", older)
    latest = brisa.trigger("cli_order")["run_id"]
    brisa.wait_for_run("cli_order", latest)

    result = brisa_cli(brisa.url, "tasks", "logs", "cli_order", "start")

    assert result.returncode == 0, result.stderr
    assert result.stderr == f"latest run of default/cli_order: {latest}\n"
    assert f"running default/cli_order {latest} task start" in result.stdout
    assert older not in result.stdout
    assert any(line.endswith("Z started") for line in result.stdout.splitlines())
    same = ok(brisa, "tasks", "logs", "cli_order", latest, "start")
    assert same == result.stdout
    err = refused(brisa, "tasks", "logs", "cli_order", latest, "start", "extra")
    assert "[RUN_ID] TASK_ID" in err


def test_the_config_at_the_start_of_a_log_is_one_key_per_line_under_a_header(
    brisa: Standalone, etl_run: dict[str, Any]
) -> None:
    lines = ok(brisa, "tasks", "logs", "etl_orders", etl_run["run_id"], "extract").splitlines()
    messages = [line.partition("Z ")[2] for line in lines]  # without the time stamps

    assert messages[0].startswith("brisa: attempt 1 of task instance ")
    assert messages[1].startswith("brisa: config (") and "secrets redacted" in messages[1]
    block = [m for m in messages[2:] if m.startswith("brisa: config | ")]
    assert messages[2 : 2 + len(block)] == block  # one block, right under its header
    settings = dict(m.removeprefix("brisa: config | ").split(" = ", 1) for m in block)
    assert f"({len(block)} settings" in messages[1]
    assert settings["token"] == '"***"'
    assert settings["api_url"] == json.dumps(brisa.url)
    assert "heartbeat_interval" in settings and "logs.location" in settings
    assert settings["logs.store_options"] == "{}"
    assert not any(v.startswith("{") and v != "{}" for v in settings.values())  # flattened
