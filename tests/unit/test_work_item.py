"""The work item: what the execution API's start answers and the worker reads."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from brisa.core.records import CodeRef, WorkItem
from brisa.core.spec import Binding, PythonCall, ShellCommand, TaskSpec

WHEN = datetime(2026, 5, 1, 3, 0, 0, 250000, tzinfo=UTC)


def item(**changes: object) -> WorkItem:
    task = TaskSpec(
        "load",
        PythonCall("load", (Binding(ref="extract"),), {"table": Binding(value="sales")}),
        upstream=("extract",),
        retries=2,
        execution_timeout=60.0,
    )
    made = WorkItem(
        team="data",
        dag_id="etl",
        task_id="load",
        run_id="manual__1",
        try_number=2,
        logical_date=WHEN,
        data_interval_start=WHEN.replace(day=1, hour=0),
        data_interval_end=WHEN,
        params={"token": "s3cr3t", "n": [1, 2]},
        fileloc="etl.py",
        code_version="c" * 40,
        task=task,
        upstream_values={"extract": {"rows": 3}},
        secret_params=("token",),
        repo="team-repo",
        code=CodeRef(repo="team-repo", sha="c" * 40, subdir="dags", url="https://git/x.git"),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_the_wire_form_reads_back_as_the_same_item() -> None:
    sent = item()
    wire = json.loads(json.dumps(sent.to_json()))
    assert WorkItem.from_json(wire) == sent


def test_the_wire_form_keeps_the_keys_and_date_format_workers_know() -> None:
    wire = item().to_json()
    assert list(wire) == [
        *("team", "dag_id", "task_id", "run_id", "try_number"),
        *("logical_date", "data_interval_start", "data_interval_end", "params", "fileloc"),
        *("code_version", "task", "upstream_values", "secret_params", "repo", "code"),
    ]
    assert wire["logical_date"] == "2026-05-01T03:00:00.250000+00:00"
    assert wire["secret_params"] == ["token"]
    assert wire["code"] == {
        "repo": "team-repo",
        "sha": "c" * 40,
        "subdir": "dags",
        "url": "https://git/x.git",
        "path": "",
    }
    assert wire["task"]["kind"] == "python" and wire["task"]["args"] == [{"ref": "extract"}]


def test_a_shell_task_travels_with_its_command() -> None:
    shell = TaskSpec("say", ShellCommand("echo {{ ds }}", {"A": "1"}, "/srv"))
    sent = item(task=shell, task_id="say", upstream_values={})
    assert WorkItem.from_json(sent.to_json()).task.body == ShellCommand(
        "echo {{ ds }}", {"A": "1"}, "/srv"
    )


def test_what_an_older_api_leaves_out_has_defaults() -> None:
    wire = item().to_json()
    for key in ("code", "secret_params", "repo"):
        del wire[key]
    wire["code_version"] = None
    read = WorkItem.from_json(wire)
    assert (read.code, read.secret_params, read.repo, read.code_version) == (
        CodeRef(),
        (),
        "dags",
        "",
    )


def test_a_task_kind_the_worker_does_not_know_is_refused() -> None:
    wire = item().to_json()
    wire["task"]["kind"] = "teleport"
    with pytest.raises(ValueError, match="unknown kind 'teleport'"):
        WorkItem.from_json(wire)
