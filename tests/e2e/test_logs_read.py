"""Reading task logs from a real standalone: the JSON pages, the event stream, following a
running task from the API and the CLI, resuming at an offset, and pruning old logs.

The standalone keeps its logs in the default local object store ($BRISA_HOME/logs), and its
workers ship what their task prints every second (`[logs] chunk_interval`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from brisa.logs import layout
from support.standalone import ApiError, Standalone

CHUNK_INTERVAL = 1.0

DAGS = """
from brisa import DAG, shell

with DAG("logs_quick"):
    shell("hello", "echo hello; echo 'wörld ✓'; seq 1 200 | sed 's/^/line /'")

with DAG("logs_ticker", params={"n": 5}):
    shell("tick", 'for i in $(seq {{ params.n | shquote }}); do '
                  'echo "tick $i $(date +%s.%N)"; sleep 1; done')
"""


@pytest.fixture(scope="module")
def brisa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("logs") / "home"
    env = {
        "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
        "BRISA__LOGS__CHUNK_INTERVAL": f"{CHUNK_INTERVAL}s",
    }
    server = Standalone(home, env=env, copy_examples=False)
    (server.dags / "logs_dags.py").write_text(DAGS)
    server.start()
    try:
        server.wait_for_dag("logs_quick")
        server.wait_for_dag("logs_ticker")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def quick_run(brisa: Standalone) -> dict[str, Any]:
    """A finished run of logs_quick (read-only for the tests using it)."""
    run = brisa.trigger("logs_quick")
    return dict(brisa.wait_for_run("logs_quick", run["run_id"]))


def task_path(brisa: Standalone, dag_id: str, run_id: str, task_id: str) -> str:
    quoted = urllib.parse.quote(run_id, safe="")
    return f"{brisa.dag_path(dag_id)}/runs/{quoted}/tasks/{task_id}"


def printed(log: str) -> list[str]:
    """What the task printed, line by line, without the time stamp the worker puts first."""
    return [line.split(" ", 1)[1] for line in log.splitlines() if " " in line]


def read_pages(brisa: Standalone, path: str, offset: int = 0) -> tuple[str, dict[str, Any]]:
    """The whole log through the JSON endpoint, page after page, until it is finished (the
    worker ships its last lines after reporting its result); and the last page."""
    content = ""
    deadline = time.monotonic() + 30
    while True:
        page = brisa.get(f"{path}/logs?try=1&offset={offset}")
        content += page["content"]
        if not page["content"] and (page["finished"] or time.monotonic() > deadline):
            return content, page
        if not page["content"]:
            time.sleep(0.1)
        offset = page["next_offset"]


@dataclass
class Event:
    at: float  # time.monotonic() when it arrived
    wall: float  # time.time() when it arrived
    event: str
    id: str | None
    data: dict[str, Any]


def stream(
    brisa: Standalone, path: str, *, query: str = "", headers: dict[str, str] | None = None
) -> Iterator[Event]:
    """The server-sent events of `path`, parsed here (not with the CLI's parser)."""
    request = urllib.request.Request(f"{brisa.url}{path}{query}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "data" in fields:
                data = json.loads(fields["data"])
                kind, event_id = fields.get("event", "message"), fields.get("id")
                yield Event(time.monotonic(), time.time(), kind, event_id, data)
            fields = {}


def read_stream(brisa: Standalone, path: str, **kwargs: Any) -> tuple[str, list[Event]]:
    events = list(stream(brisa, path, **kwargs))
    assert events, "the stream sent nothing"
    assert events[-1].event == "end"
    assert all(e.event == "message" for e in events[:-1])
    return "".join(e.data["content"] for e in events[:-1]), events


def test_the_json_pages_and_the_stream_give_the_same_log(
    brisa: Standalone, quick_run: dict[str, Any]
) -> None:
    path = task_path(brisa, "logs_quick", quick_run["run_id"], "hello")

    pages, last = read_pages(brisa, path)
    streamed, events = read_stream(brisa, f"{path}/logs/stream", query="?try=1")

    lines = printed(pages)
    assert lines[lines.index("hello") + 1] == "wörld ✓"
    assert "line 200" in lines
    assert streamed == pages
    assert last["finished"] is True
    size = len(pages.encode())
    assert last["next_offset"] == size
    assert events[-1].data == {"try_number": 1, "next_offset": size}
    assert [int(e.id or 0) for e in events] == [e.data["next_offset"] for e in events]


def test_reading_resumes_exactly_at_an_offset(brisa: Standalone, quick_run: dict[str, Any]) -> None:
    path = task_path(brisa, "logs_quick", quick_run["run_id"], "hello")
    whole = read_pages(brisa, path)[0].encode()
    cut = whole.index("ld ✓".encode())  # inside a line, after a two-byte character

    from_page = read_pages(brisa, path, offset=cut)[0]
    from_offset = read_stream(brisa, f"{path}/logs/stream", query=f"?offset={cut}")[0]
    from_event_id = read_stream(
        brisa, f"{path}/logs/stream", query="?offset=0", headers={"Last-Event-ID": str(cut)}
    )[0]

    assert from_page == from_offset == from_event_id == whole[cut:].decode()


def test_following_a_running_task_gives_its_lines_while_it_runs(brisa: Standalone) -> None:
    run = brisa.trigger("logs_ticker", {"n": 5})
    path = task_path(brisa, "logs_ticker", run["run_id"], "tick")

    # No try given: the stream waits for the task's first try to start.
    events, state_at_first_tick = [], None
    for event in stream(brisa, f"{path}/logs/stream"):
        events.append(event)
        if state_at_first_tick is None and "tick 1 " in event.data.get("content", ""):
            state_at_first_tick = brisa.get(path)["state"]
    streamed = "".join(e.data["content"] for e in events[:-1])
    assert events[-1].event == "end"

    ticks = [line for line in printed(streamed) if line.startswith("tick ")]
    assert [t.split()[1] for t in ticks] == ["1", "2", "3", "4", "5"]
    # Lines came while the task ran, not all at its end: the first one arrived alone, while
    # the task (four more seconds of ticks to go) was still running.
    first_tick = next(e for e in events if "tick 1 " in e.data.get("content", ""))
    assert "tick 5 " not in first_tick.data["content"]
    assert state_at_first_tick == "running"
    # ... each within the chunk interval plus a second of being printed (plus slack for a
    # busy test machine): how soon a followed line shows is the promise of following.
    for event in events[:-1]:
        for line in printed(event.data["content"]):
            if line.startswith("tick "):
                printed_at = float(line.split()[2])
                assert event.wall - printed_at < CHUNK_INTERVAL + 2.5, line
    # The stream ended because the attempt did, and everything was sent.
    assert brisa.wait_for_run("logs_ticker", run["run_id"])["state"] == "success"
    assert streamed == read_pages(brisa, path)[0]


def brisa_cli(
    brisa: Standalone, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRISA_API_URL": brisa.url, "BRISA_HOME": str(brisa.home)}
    return subprocess.run(
        [sys.executable, "-m", "brisa", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli_follow_prints_the_lines_and_exits_when_the_task_ends(brisa: Standalone) -> None:
    run = brisa.trigger("logs_ticker", {"n": 3})

    result = brisa_cli(brisa, "tasks", "logs", "logs_ticker", run["run_id"], "tick", "--follow")

    assert result.returncode == 0, result.stderr
    lines = [line for line in printed(result.stdout) if line.startswith("tick ")]
    assert [line.split()[1] for line in lines] == ["1", "2", "3"]
    # The follow ends with the task; the run is decided by the scheduler just after.
    assert brisa.wait_for_run("logs_ticker", run["run_id"])["state"] == "success"


def test_bad_log_requests_get_a_readable_error(
    brisa: Standalone, quick_run: dict[str, Any]
) -> None:
    path = task_path(brisa, "logs_quick", quick_run["run_id"], "hello")
    missing = task_path(brisa, "logs_quick", quick_run["run_id"], "nope")
    cases = [
        (f"{path}/logs?try=2", 400, "ask for try 1..1"),
        (f"{path}/logs/stream?try=2", 400, "ask for try 1..1"),
        (f"{path}/logs?offset=-1", 400, "offset"),
        (f"{missing}/logs", 404, "no task 'nope'"),
        (f"{missing}/logs/stream", 404, "no task 'nope'"),
    ]
    for url, status, detail in cases:
        with pytest.raises(ApiError) as caught:
            brisa.get(url)
        assert (caught.value.status, detail in caught.value.detail) == (status, True), url

    request = urllib.request.Request(
        f"{brisa.url}{path}/logs/stream", headers={"Last-Event-ID": "soon"}
    )
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=10)
    assert http_error.value.code == 400


def age_log(brisa: Standalone, run_id: str, days: float) -> list[Path]:
    """Make one attempt's log objects look `days` old; return their files."""
    prefix = layout.attempt_prefix("default", "logs_quick", run_id, "hello", 1)
    files = sorted((brisa.home / "logs" / prefix).glob("*"))
    assert files, f"no log objects under {prefix}"
    stamp = time.time() - days * 86400
    for file in files:
        os.utime(file, (stamp, stamp))
    return files


def test_prune_deletes_old_logs_and_a_dry_run_deletes_nothing(brisa: Standalone) -> None:
    old_run = brisa.trigger("logs_quick")["run_id"]
    new_run = brisa.trigger("logs_quick")["run_id"]
    brisa.wait_for_run("logs_quick", old_run)
    brisa.wait_for_run("logs_quick", new_run)
    new_path = task_path(brisa, "logs_quick", new_run, "hello")
    brisa.wait_until(lambda: read_pages(brisa, new_path)[1]["finished"], 10, "a complete log")
    old_files = age_log(brisa, old_run, days=40)

    dry = brisa_cli(brisa, "logs", "prune", "--older-than", "30d", "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"would delete {len(old_files)} objects ")
    assert all(f.exists() for f in old_files)

    done = brisa_cli(brisa, "logs", "prune", "--older-than", "30d")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"deleted {len(old_files)} objects (")
    assert not any(f.exists() for f in old_files)
    assert "hello" in read_pages(brisa, new_path)[0]
    pruned = brisa.get(f"{task_path(brisa, 'logs_quick', old_run, 'hello')}/logs?try=1")
    assert pruned["content"] == ""

    bad = brisa_cli(brisa, "logs", "prune", "--older-than", "a month")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --older-than: 'a month' is not a duration")
