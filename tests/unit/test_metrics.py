"""Metrics, health answers and JSON log lines, as a scraper, a probe and a log collector read
them (no database, no server: fakes for what they read)."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from brisa.cli.logsetup import JsonFormatter
from brisa.core.planner import Kill, QueueTask, SetTaskState
from brisa.core.records import AttemptRef
from brisa.core.states import TaskState
from brisa.errors import ConfigError
from brisa.metrics.collector import DatabaseCollector, SpoolCollector
from brisa.metrics.health import Heartbeats, answer, database_checks
from brisa.metrics.instruments import Metrics, action_kind
from brisa.settings import load
from brisa.store.gauges import Gauges, LeaseGauge, RepoGauge

T = TaskState
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a registry, by (name, sorted labels), parsed from the text format."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_pass_counts_its_actions_by_kind_and_outcome_and_the_attempts_it_ended() -> None:
    metrics = Metrics()
    actions = [
        QueueTask(1, T.PENDING, 0, 10, None),
        QueueTask(2, T.PENDING, 0, 10, None),
        SetTaskState(3, T.RUNNING, 1, T.FAILED, kill=True),  # a lost worker
        SetTaskState(4, T.PENDING, 0, T.UPSTREAM_FAILED),  # never had an attempt
        Kill(AttemptRef(5, 1)),
    ]
    with metrics.scheduler.scheduling_pass() as record:
        record(actions, [True, False, True, True, False], slots=(32, 3))
    got = samples(metrics)
    assert (
        got[("brisa_scheduler_actions_total", (("kind", "queue_task"), ("outcome", "changed")))]
        == 1
    )
    assert (
        got[("brisa_scheduler_actions_total", (("kind", "queue_task"), ("outcome", "unchanged")))]
        == 1
    )
    assert got[("brisa_scheduler_actions_total", (("kind", "kill"), ("outcome", "unchanged")))] == 1
    ended = {k[1]: v for k, v in got.items() if k[0] == "brisa_task_attempts_ended_total"}
    assert ended == {(("recorded_by", "scheduler"), ("state", "failed")): 1}
    assert got[("brisa_executor_slots", ())] == 32
    assert got[("brisa_executor_slots_used", ())] == 3
    assert got[("brisa_scheduler_pass_duration_seconds_count", ())] == 1
    assert got[("brisa_scheduler_pass_failures_total", ())] == 0


def test_a_failed_pass_is_counted_and_still_timed() -> None:
    metrics = Metrics()
    with pytest.raises(RuntimeError), metrics.scheduler.scheduling_pass():
        raise RuntimeError("database gone")
    got = samples(metrics)
    assert got[("brisa_scheduler_pass_failures_total", ())] == 1
    assert got[("brisa_scheduler_pass_duration_seconds_count", ())] == 1


def test_action_kinds_are_snake_case() -> None:
    assert action_kind(SetTaskState(1, T.RUNNING, 1, T.SUCCESS)) == "set_task_state"


def test_requests_are_labelled_by_route_template_and_status_class() -> None:
    metrics = Metrics()
    metrics.api.observe("/api/v1/teams/{team}/dags/{dag_id}", "GET", 404, 0.01)
    labels = {k[1] for k in samples(metrics) if k[0] == "brisa_api_request_duration_seconds_count"}
    assert labels == {
        (("method", "GET"), ("route", "/api/v1/teams/{team}/dags/{dag_id}"), ("status", "4xx"))
    }


def test_two_processes_in_one_interpreter_keep_their_own_counts() -> None:
    first, second = Metrics(), Metrics()
    first.attempts.worker_reported(T.SUCCESS)
    key = ("brisa_task_attempts_ended_total", (("recorded_by", "worker"), ("state", "success")))
    assert samples(first)[key] == 1
    assert key not in samples(second)


@dataclass
class FakeGauges:
    gauges_value: Gauges | None

    def gauges(self) -> Gauges:
        if self.gauges_value is None:
            raise OSError("connection refused")
        return self.gauges_value


def test_database_gauges_as_a_scrape_shows_them() -> None:
    gauges = Gauges(
        tasks={("data", "running"): 2, ("data", "success"): 5},
        queued={"data": 3},
        leases=[LeaseGauge("scheduler", "host-a:1", 4, 12.5)],
        repos=[
            RepoGauge("analytics", "data", NOW - timedelta(seconds=90), 0),
            RepoGauge("fresh", "ml", None, 2),
        ],
        import_errors={("data", "analytics"): 1},
    )
    metrics = Metrics()
    metrics.registry.register(DatabaseCollector(lambda: FakeGauges(gauges), lambda: NOW))
    got = samples(metrics)
    assert got[("brisa_database_up", ())] == 1
    assert got[("brisa_task_instances", (("state", "running"), ("team", "data")))] == 2
    assert got[("brisa_queue_depth", (("team", "data"),))] == 3
    lease = (("holder", "host-a:1"), ("name", "scheduler"))
    assert got[("brisa_lease_epoch", lease)] == 4
    assert got[("brisa_lease_expires_in_seconds", lease)] == 12.5
    assert got[("brisa_repo_sync_age_seconds", (("repo", "analytics"), ("team", "data")))] == 90
    assert math.isinf(got[("brisa_repo_sync_age_seconds", (("repo", "fresh"), ("team", "ml")))])
    assert got[("brisa_repo_sync_consecutive_failures", (("repo", "fresh"), ("team", "ml")))] == 2
    assert got[("brisa_import_errors", (("repo", "analytics"), ("team", "data")))] == 1


def test_a_scrape_without_the_database_says_so_and_still_answers() -> None:
    metrics = Metrics()
    metrics.registry.register(DatabaseCollector(lambda: FakeGauges(None), lambda: NOW))
    got = samples(metrics)
    assert got[("brisa_database_up", ())] == 0
    assert not any(name == "brisa_task_instances" for name, _ in got)


def test_spools_of_ended_workers_are_the_unshipped_logs(tmp_path: Path) -> None:
    for pid, age in ((111, 40.0), (222, 5.0), (333, 500.0)):
        spool = tmp_path / f"ti{pid}-try1.log.{pid}.spool"
        spool.write_text("line\n")
        os.utime(spool, (1_000_000 - age, 1_000_000 - age))
    metrics = Metrics()
    alive = {333}  # a running worker's spool is its live log, not a backlog
    collector = SpoolCollector(tmp_path, alive=lambda pid: pid in alive, wall=lambda: 1_000_000)
    metrics.registry.register(collector)
    got = samples(metrics)
    assert got[("brisa_log_spools_unshipped", ())] == 2
    assert got[("brisa_log_spool_unshipped_age_seconds", ())] == pytest.approx(40.0)


def test_a_stalled_loop_fails_liveness_and_says_for_how_long() -> None:
    clock = [100.0]
    beats = Heartbeats(monotonic=lambda: clock[0])
    beats.beat("scheduler")
    beats.beat("dag source dags")
    clock[0] = 200.0
    beats.beat("dag source dags")
    status, body = answer(beats.checks(stall_timeout=60))
    assert status == 503 and body["status"] == "failing"
    by_name = {c["name"]: c for c in body["checks"]}
    assert by_name["dag source dags"]["ok"]
    assert not by_name["scheduler"]["ok"]
    assert "100s ago" in by_name["scheduler"]["detail"]
    assert "stall_timeout" in by_name["scheduler"]["detail"]


@dataclass
class FakeDb:
    error: Exception | None = None
    revisions: tuple[str | None, str] = ("0005", "0005")
    backend: str = "postgresql"

    def ping(self) -> None:
        if self.error is not None:
            raise self.error

    def schema_revisions(self) -> tuple[str | None, str]:
        return self.revisions


def test_readiness_says_the_database_is_unreachable_and_why() -> None:
    refused = OSError(
        'connection to server at "127.0.0.1", port 5999 failed: Connection refused\n more'
    )
    status, body = answer(database_checks(lambda: FakeDb(error=refused)))
    assert status == 503
    database, schema = body["checks"]
    assert not database["ok"]
    assert database["detail"] == (
        'the database is unreachable: connection to server at "127.0.0.1", port 5999 failed: '
        "Connection refused"
    )
    assert schema == {
        "name": "schema",
        "ok": False,
        "detail": "not checked: the database is unreachable",
    }


def test_readiness_names_a_schema_behind_the_code_and_what_to_do() -> None:
    status, body = answer(database_checks(lambda: FakeDb(revisions=("0004", "0005"))))
    assert status == 503
    assert body["checks"][0]["ok"]
    assert (
        "at revision 0004, this Brisa needs 0005: run `brisa db migrate`"
        in (body["checks"][1]["detail"])
    )


def test_json_log_lines_carry_time_level_logger_message_and_the_exception() -> None:
    logger = logging.getLogger("brisa.test")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logger.makeRecord(
            "brisa.test", logging.ERROR, __file__, 1, "pass %d failed", (3,), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR"
    assert parsed["logger"] == "brisa.test"
    assert parsed["message"] == "pass 3 failed"
    assert parsed["time"].endswith("+00:00")
    assert "ValueError: bad" in parsed["exception"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BRISA__METRICS__SCHEDULER_PORT": "70000"},
            "[metrics] scheduler_port: 70000 is not a port",
        ),
        ({"BRISA__LOGGING__FORMAT": "xml"}, "[logging] format: 'xml' is not a log format"),
    ],
)
def test_bad_metrics_and_logging_settings_are_named(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ=env)
    assert message in str(caught.value)


def test_metrics_and_logging_settings_load(tmp_path: Path) -> None:
    env = {
        "BRISA__METRICS__SCHEDULER_PORT": "9464",
        "BRISA__METRICS__STALL_TIMEOUT": "2m",
        "BRISA__LOGGING__FORMAT": "json",
    }
    settings = load(tmp_path, environ=env)
    assert settings.metrics.scheduler_port == 9464
    assert settings.metrics.dag_processor_port == 0  # off unless asked for
    assert settings.metrics.host == "127.0.0.1"
    assert settings.metrics.stall_timeout == 120
    assert settings.logging.format == "json"
