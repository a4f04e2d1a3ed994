"""Metrics and health endpoints as an operator meets them: scraped over HTTP from a real
`brisa standalone` after a run, and from real `brisa scheduler` and `brisa dag-processor`
processes on PostgreSQL, whose readiness turns to 503 when their database goes away."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from brisa.testing.server import wait_until
from support.standalone import Standalone, free_port

DAG_FILE = """
from datetime import datetime
from brisa import DAG, shell

with DAG("hello", schedule=None, start_date=datetime(2026, 1, 1)):
    shell("say", "echo hello")
"""
BROKEN_FILE = "import brisa\nraise RuntimeError('this file is broken')\n"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(base: str) -> Samples:
    status, body = fetch(base + "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def health(base: str, which: str) -> tuple[int, dict[str, Any]]:
    status, body = fetch(f"{base}/health/{which}")
    return status, json.loads(body)


def checks(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in body["checks"]}


def test_a_standalone_after_a_run_shows_what_happened_in_its_metrics(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "hello.py").write_text(DAG_FILE)
    (dags / "broken.py").write_text(BROKEN_FILE)
    with Standalone(tmp_path / "home", dags=dags) as server:
        server.start()
        server.wait_for_dag("hello")
        run = server.trigger("hello")
        assert server.wait_for_run("hello", run["run_id"])["state"] == "success"
        got = scrape(server.url)

        ended = "brisa_task_attempts_ended_total"
        assert value(got, ended, state="success", recorded_by="worker") == 1
        assert (
            value(got, "brisa_scheduler_actions_total", kind="queue_task", outcome="changed") == 1
        )
        assert (value(got, "brisa_scheduler_pass_duration_seconds_count") or 0) > 0
        assert value(got, "brisa_executor_slots") == 32  # [executor] parallelism
        assert value(got, "brisa_import_errors", team="default", repo="dags") == 1
        assert (value(got, "brisa_dag_processor_files_parsed_total", source="dags") or 0) >= 2
        assert (value(got, "brisa_dag_processor_import_errors_total", source="dags") or 0) >= 1
        assert value(got, "brisa_database_up") == 1
        route = "/api/v1/teams/{team}/dags/{dag_id}/runs"
        triggers = value(
            got,
            "brisa_api_request_duration_seconds_count",
            route=route,
            method="POST",
            status="2xx",
        )
        assert triggers == 1
        labels = {v for (_, pairs) in got for _, v in pairs}
        assert not any(run["run_id"] in label for label in labels)  # templates, never ids

        status, live = health(server.url, "live")
        assert status == 200, live
        assert {"process", "scheduler", "dag source dags"} <= set(checks(live))
        status, ready = health(server.url, "ready")
        assert status == 200, ready
        assert {n: c["ok"] for n, c in checks(ready).items()} == {
            "database": True,
            "schema": True,
            "object store": True,
            "scheduler lease": True,
        }
        assert server.get("/api/v1/health")["status"] == "ok"


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "brisa", *argv],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def answers(base: str, log: Path, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the process exited:\n{log.read_text()[-3000:]}")
    try:
        return health(base, "ready")[0] == 200
    except OSError:
        return False


def test_scheduler_and_dag_processor_serve_metrics_and_health_and_say_when_the_database_is_gone(
    tmp_path: Path, postgres_url: str
) -> None:
    from brisa.store import open_store

    open_store(postgres_url, migrate=True).close()
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "hello.py").write_text(DAG_FILE)
    env = {
        **os.environ,
        "BRISA_HOME": str(tmp_path / "home"),
        "BRISA__DATABASE__URL": postgres_url,
        "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
    }
    sched_port, proc_port = free_port(), free_port()
    sched, parser = f"http://127.0.0.1:{sched_port}", f"http://127.0.0.1:{proc_port}"
    sched_log, parser_log = tmp_path / "scheduler.log", tmp_path / "dag-processor.log"
    with (
        process(
            ["scheduler", "--metrics-port", str(sched_port), "--log-format", "json"],
            env,
            sched_log,
        ) as scheduler,
        process(
            ["dag-processor", "--dags", str(dags), "--metrics-port", str(proc_port)],
            env,
            parser_log,
        ) as processor,
    ):
        wait_until(lambda: answers(sched, sched_log, scheduler), 30, "the scheduler to be ready")
        wait_until(lambda: answers(parser, parser_log, processor), 30, "the processor to be ready")

        def parsed() -> bool:
            got = scrape(parser)
            return (value(got, "brisa_dag_processor_files_parsed_total", source="dags") or 0) >= 1

        wait_until(parsed, 30, "the DAG processor to count a parsed file")

        def passed() -> bool:  # the first pass follows readiness; it may still be under way
            return (value(scrape(sched), "brisa_scheduler_pass_duration_seconds_count") or 0) > 0

        wait_until(passed, 30, "the scheduler to count a pass")
        got = scrape(sched)
        assert value(got, "brisa_executor_slots") == 32
        assert value(got, "brisa_executor_slots_used") == 0
        assert "scheduler" in checks(health(sched, "live")[1])
        assert "dag source dags" in checks(health(parser, "live")[1])
        status, ready = health(sched, "ready")
        assert status == 200 and checks(ready)["database"]["detail"].startswith("postgresql")
        assert checks(ready)["scheduler lease"]["ok"]

        # The scheduler's own log lines are JSON objects, one per line.
        lines = [line for line in sched_log.read_text().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]
        assert any(r["message"].startswith("metrics and health at") for r in records)
        assert all({"time", "level", "logger", "message"} <= set(r) for r in records)

        server, name = postgres_url.rsplit("/", 1)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

        status, ready = health(sched, "ready")
        assert status == 503
        assert ready["status"] == "failing"
        database = checks(ready)["database"]
        assert not database["ok"]
        assert database["detail"].startswith("the database is unreachable: ")
        assert "does not exist" in database["detail"]
        assert checks(ready)["schema"]["detail"] == "not checked: the database is unreachable"
        # Alive all the same: its loop goes on (and fails) until the database is back.
        status, live = health(sched, "live")
        assert status == 200, live


@pytest.mark.parametrize("command", ["scheduler", "dag-processor"])
def test_a_metrics_port_already_taken_stops_the_process_with_a_message(
    tmp_path: Path, command: str
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dags = tmp_path / "dags"
        dags.mkdir()
        extra = ["--dags", str(dags)] if command == "dag-processor" else []
        result = subprocess.run(
            [sys.executable, "-m", "brisa", command, *extra, "--metrics-port", str(port)],
            env={**os.environ, "BRISA_HOME": str(tmp_path / "home")},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr
    assert "--metrics-port" in result.stderr
