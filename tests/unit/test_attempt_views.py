"""Pure parts of the attempt page, the log viewer and the Code page: where a log opens, what
a waiting attempt waits for, download names, the config dump, the definition line, the
structural diff, the file tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brisa.control.attempts import download_name, waiting_reasons
from brisa.control.specdiff import structure_changes
from brisa.core.records import RunRecord, TaskRecord
from brisa.core.spec import DagSpec
from brisa.core.states import RunState, TaskState
from brisa.errors import InvalidInput
from brisa.web.ui.attempt import config_rows, default_tab, definition_line
from brisa.web.ui.code import diff_class, tree_rows
from brisa.web.ui.logview import Opening, opening, page_prefix, search_pattern

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_the_log_opens_where_the_user_needs_it() -> None:
    plain = {"first_match": None, "first_error": None}
    assert opening(state="running", over=False, at=None, **plain) == Opening(None, True, False)
    assert opening(state="success", over=True, at=None, **plain) == Opening(None, False, False)
    failed = opening(state="failed", over=True, at=None, first_match=None, first_error=500)
    assert failed == Opening(500, False, True)
    searched = opening(state="failed", over=True, at=None, first_match=90, first_error=500)
    assert searched.at == 90
    assert opening(state="failed", over=True, at=7, first_match=90, first_error=500).at == 7


def test_search_is_literal_unless_regex() -> None:
    pattern = search_pattern("a.b", False)
    assert pattern is not None and pattern.search("A.B") and not pattern.search("axb")
    assert search_pattern("", True) is None
    with pytest.raises(InvalidInput, match="not a valid regular expression"):
        search_pattern("(", True)


def test_page_urls_keep_filters_and_drop_the_position() -> None:
    url = page_prefix(
        "/_/x/logs/page", [("offset", "5"), ("dir", "before"), ("q", "a b"), ("level", "")]
    )
    assert url == "/_/x/logs/page?q=a+b&"
    assert page_prefix("/p", []) == "/p?"


def run_with(states: dict[str, TaskState]) -> RunRecord:
    tasks = {t: TaskRecord(n, 1, t, s, 1) for n, (t, s) in enumerate(states.items())}
    return RunRecord(1, "t", "d", "r", "manual", RunState.RUNNING, 1, NOW, NOW, NOW, {}, NOW,
                     tasks=tasks)  # fmt: skip


def test_waiting_is_worded_as_waiting() -> None:
    pending = TaskRecord(9, 1, "load", TaskState.PENDING, 0)
    run = run_with({"extract": TaskState.RUNNING, "clean": TaskState.SUCCESS})
    spec = type(
        "S",
        (),
        {
            "upstream": ("extract", "clean"),
            "trigger_rule": type("R", (), {"value": "all_success"})(),
        },
    )()
    assert waiting_reasons(run, pending, spec, NOW) == [  # type: ignore[arg-type]
        "upstream extract is running (trigger rule all_success)"
    ]
    retry = TaskRecord(
        9, 1, "load", TaskState.UP_FOR_RETRY, 1, next_try_at=NOW + timedelta(seconds=72)
    )
    assert waiting_reasons(run, retry, None, NOW) == [
        "retry 2 is scheduled at 2026-12-01T12:01:12+00:00 (in 72 s)"
    ]
    queued = TaskRecord(9, 1, "load", TaskState.QUEUED, 1)
    assert "waiting for a worker" in waiting_reasons(run, queued, None, NOW)[0]
    assert waiting_reasons(run, TaskRecord(9, 1, "x", TaskState.SUCCESS, 1), None, NOW) == []


def test_default_tab_and_download_name() -> None:
    assert default_tab("pending", False) == "waiting"
    assert default_tab("queued", False) == "waiting"
    assert default_tab("running", True) == "logs"
    assert default_tab("failed", True) == "logs"
    run = run_with({})
    assert download_name(run, "my task", 2) == "t__d__r__my~20task__try2.log"


def test_config_dump_rows() -> None:
    head = ["2026-12-01T12:00:00.000Z brisa: config (2 settings, secrets redacted):",
            "2026-12-01T12:00:00.000Z brisa: config | token = \"***\"",
            "2026-12-01T12:00:00.000Z brisa: config | logs.location = \"file:///x\"",
            "2026-12-01T12:00:00.000Z hello"]  # fmt: skip
    assert config_rows(head) == [("token", '"***"'), ("logs.location", '"file:///x"')]


def test_definition_line_finds_the_def() -> None:
    body = type("B", (), {"function": "load"})()
    spec = type("T", (), {"body": body, "lineno": 9})()
    text = "x = 1\n\n@task\ndef load():\n    pass\n\nload()\n"
    assert definition_line(text, spec) == 4  # type: ignore[arg-type]
    assert definition_line("nothing", spec) == 9  # type: ignore[arg-type]


def test_structural_diff_names_tasks_and_dependencies() -> None:
    old = _dag({"a": [], "b": ["a"]})
    new = _dag({"a": [], "b": [], "c": ["b"]})
    assert structure_changes(old, new) == ["task c added", "task b: upstream a → none"]
    assert structure_changes(old, old) == []


def _dag(tasks: dict[str, list[str]]) -> DagSpec:
    from brisa import DAG, shell
    from brisa.authoring.serialize import serialize

    with DAG("d") as dag:
        made = {t: shell(t, "true") for t in tasks}
        for t, ups in tasks.items():
            for up in ups:
                made[up] >> made[t]
    return serialize(dag, "d.py")


def test_file_tree_rows_and_diff_classes() -> None:
    rows = tree_rows(["README.md", "dags/a.py", "dags/lib/b.py"])
    assert rows == [(0, "README.md", "README.md", False), (0, "dags", "dags", True),
                    (1, "a.py", "dags/a.py", False), (1, "lib", "dags/lib", True),
                    (2, "b.py", "dags/lib/b.py", False)]  # fmt: skip
    assert [diff_class(x) for x in ("+++ b", "@@ -1", "+x", "-y", " z")] == [
        "d-file",
        "d-hunk",
        "d-add",
        "d-del",
        "",
    ]


def test_live_events_send_whole_lines_with_their_offsets() -> None:
    from zoneinfo import ZoneInfo

    from brisa.logs.tail import Chunk, End
    from brisa.web.ui.logview import live_events

    events = [Chunk(1, "one\ntw", 6), None, Chunk(1, "o\nthree", 13), End(1, 13)]
    out = [e for e in live_events(events, 0, 1, ZoneInfo("UTC")) if e]
    assert out[0] == "retry: 1000\n\n"
    first, second, third, end = out[1:]
    assert first.startswith("id: 4\nevent: log\n") and 'id="L1"' in first and "tw" not in first
    assert second.startswith("id: 8\nevent: log\n") and 'id="L2" data-n="2" data-o="4"' in second
    assert third.startswith("id: 13\nevent: log\n") and 'id="L3" data-n="3" data-o="8"' in third
    assert end.startswith("id: 13\nevent: end\n") and "FINAL" in end


def test_a_snapshot_tarball_is_browsed_in_memory_and_refuses_escapes() -> None:
    import io
    import tarfile

    from brisa.control.code import _clean_path, _Tree

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("dags/a.py", b"print(1)\n"), ("README.md", b"hi\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    tree = _Tree(tar=buffer.getvalue())
    assert tree.files() == ["README.md", "dags/a.py"]
    assert tree.read("dags/a.py") == b"print(1)\n"
    for bad in ("../x", "/etc/passwd", "a\0b", ""):
        with pytest.raises(InvalidInput):
            _clean_path(bad)


def test_a_queued_run_is_a_reason_to_wait() -> None:
    from dataclasses import replace

    from brisa.control.attempts import run_reasons

    run = run_with({})
    assert run_reasons(run, None) == []
    queued = replace(run, state=RunState.QUEUED)
    assert run_reasons(queued, _dag({"a": []})) == [
        "run r is queued: waiting for the DAG's other active runs (it allows 16 at once)"
    ]


def test_a_dag_at_its_task_limit_is_a_reason_to_wait() -> None:
    from brisa.control.attempts import task_limit_reason

    dag = _dag({"a": []})  # max_active_tasks 16 by default
    assert task_limit_reason(dag, 15) is None
    assert task_limit_reason(None, 99) is None
    assert task_limit_reason(dag, 16) == (
        "DAG d allows 16 running tasks at once (max_active_tasks) and 16 are queued or"
        " running: waiting for one of them to finish"
    )


def test_a_queued_try_says_what_its_executor_reports_as_waiting() -> None:
    from dataclasses import replace
    from datetime import timedelta

    from brisa.control.attempts import waiting_reasons

    run = run_with({})
    queued = TaskRecord(9, 1, "x", TaskState.QUEUED, 1)
    assert waiting_reasons(run, queued, None, NOW) == [
        "queued: handed to the executor, waiting for a worker to start"
    ]
    pending_pod = replace(
        queued,
        error="waiting: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.",
        queued_at=NOW - timedelta(minutes=6),
    )
    assert waiting_reasons(run, pending_pod, None, NOW) == [
        "queued for 6 min, not started yet: the executor reports Unschedulable: 0/3 nodes are"
        " available: 3 Insufficient memory."
    ]
