"""End-to-end scenarios against real processes: a crashed standalone, killed and timed-out
workers, operator actions (cancel, clear, mark, pause), schedules, DAG files and bad input.

Every scenario uses small DAG files written for it into a temporary folder. Tasks note what
ran in a trace file next to the DAGs (`<run_id> <task_id> <try> start|end <pid> <time>`, and
`overlap` when a process of an earlier try of the same task is still alive as a new try
starts), so the tests check what really happened in the worker processes, not only what the
API says.
Waits are polls with deadlines; the few fixed observation windows (asserting that nothing
happens) are named as such.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from brisa.worker.registry import WorkerRegistry
from support.standalone import ApiError, Standalone

FAST = {
    "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
    "BRISA__WORKER__HEARTBEAT_INTERVAL": "1s",
    "BRISA__SCHEDULER__HEARTBEAT_TIMEOUT": "3s",
    "BRISA__EXECUTOR__KILL_GRACE": "2s",
}

# Imported by the DAG files (the processor skips files starting with "_"; DAG files may import
# modules next to them).
TRACE_HELPER = '''
"""Test helper: every task notes what ran, in which process, and when."""
import os
import time
from pathlib import Path

from brisa import get_current_context

TRACES = Path({traces!r})


def started(pid):
    """The process's start time (clock ticks after boot): with its pid, it names one process,
    even after the pid is used again (pids wrap around quickly on a busy machine)."""
    return Path(f"/proc/{{pid}}/stat").read_text().rsplit(")", 1)[-1].split()[19]


def note(event):
    ctx = get_current_context()
    pid = os.getpid()
    line = f"{{ctx.run_id}} {{ctx.task_id}} {{ctx.try_number}} {{event}} {{pid}} {{started(pid)}} "
    with open(TRACES / f"{{ctx.dag_id}}.log", "a") as out:
        out.write(line + f"{{time.time():.6f}}\\n")


def earlier_try_alive():
    """Whether a process of an earlier try of this task still runs (it never should)."""
    ctx = get_current_context()
    for line in (TRACES / f"{{ctx.dag_id}}.log").read_text().splitlines():
        run_id, task_id, number, event, pid, start, _ = line.split()
        if (run_id, task_id) == (ctx.run_id, ctx.task_id) and int(number) < ctx.try_number:
            try:
                stat = Path(f"/proc/{{pid}}/stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if stat[19] == start and stat[0] not in ("Z", "X"):
                return True
    return False


def work(seconds=0.0, first_try_only=False):
    note("start")
    if earlier_try_alive():
        note("overlap")
    if not (first_try_only and get_current_context().try_number > 1):
        time.sleep(seconds)
    note("end")
    return get_current_context().task_id
'''

DAG_FILES = {
    "lost.py": """
        from datetime import timedelta
        from brisa import DAG, task
        from _trace import work

        for dag_id, retries in (("lost_worker_fails", 0), ("lost_worker_retries", 1)):
            with DAG(dag_id, retries=retries, retry_delay=timedelta(0)):
                @task
                def victim():
                    return work(60, first_try_only=True)
                victim()
        """,
    "timeout.py": """
        from brisa import DAG, shell

        with DAG("timeout_kills_group", execution_timeout=2):
            hang = shell("hang", 'sleep 60 & echo "$PPID $!" > {traces}/hang.pids; wait')
            # Ignores SIGTERM (and so does its sleep): only a SIGKILL stops it.
            stubborn = shell(
                "stubborn",
                'trap "" TERM; sleep 60 & echo "$PPID $!" > {traces}/stubborn.pids; wait',
            )
            [hang, stubborn] >> shell("after", "echo never")
        """,
    "cancel.py": """
        from brisa import DAG, task
        from _trace import work

        with DAG("cancel_me"):
            @task
            def hang():
                return work(60)
            @task
            def later():
                return work()
            [hang.override(task_id="hang_0")(), hang.override(task_id="hang_1")()] >> later()
        """,
    "clear.py": """
        from brisa import DAG, task
        from _trace import work

        @task
        def step():
            return work()

        with DAG("clear_demo"):
            a, b, c = (step.override(task_id=t)() for t in "abc")
            a >> b >> c
            step.override(task_id="d")()

        with DAG("clear_running"):
            @task
            def slow():
                return work(60, first_try_only=True)
            slow() >> step.override(task_id="after")()
        """,
    "mark.py": """
        from brisa import DAG, task
        from _trace import work

        @task
        def step():
            return work()

        with DAG("mark_done"):
            step.override(task_id="first")() >> step.override(task_id="second")()

        with DAG("mark_running"):
            @task
            def hang():
                return work(60)
            hang() >> step.override(task_id="after")()
        """,
    "backoff.py": """
        from datetime import timedelta
        from brisa import DAG, get_current_context, task
        from _trace import note

        with DAG(
            "backoff_demo",
            retries=3,
            retry_delay=timedelta(seconds=1),
            retry_exponential_backoff=True,
        ):
            @task
            def flaky():
                note("start")
                try_number = get_current_context().try_number
                if try_number < 3:
                    raise RuntimeError(f"transient failure on try {try_number}")
                note("end")
                return try_number
            flaky()
        """,
    "inputs.py": """
        from brisa import DAG, Param, shell

        with DAG("inputs", params={"n": Param(1, type="integer", minimum=0), "ratio": 0.5}):
            shell("echo", "echo {{ params.n | shquote }}")
        """,
}

DAG_IDS = [
    "lost_worker_fails",
    "lost_worker_retries",
    "timeout_kills_group",
    "cancel_me",
    "clear_demo",
    "clear_running",
    "mark_done",
    "mark_running",
    "backoff_demo",
    "inputs",
]

RESTART_DAG = """
    from datetime import timedelta
    from brisa import DAG, task
    from _trace import work

    with DAG("restart_safety", retries=1, retry_delay=timedelta(0)):
        @task
        def step():
            return work(2)
        fan = [step.override(task_id=f"fan_{i}")() for i in range(6)]
        join = step.override(task_id="join")()
        fan >> join
        join >> step.override(task_id="tail")()
    """


# --- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    run_id: str
    task_id: str
    try_number: int
    what: str
    pid: int
    at: float


@dataclass(frozen=True)
class Lab:
    server: Standalone
    dags: Path
    traces: Path

    def events(self, dag_id: str, run_id: str | None = None) -> list[Event]:
        path = self.traces / f"{dag_id}.log"
        found = []
        for line in path.read_text().splitlines() if path.exists() else []:
            run, task, number, what, pid, _, at = line.split()
            if run_id is None or run == run_id:
                found.append(Event(run, task, int(number), what, int(pid), float(at)))
        return found

    def wait_event(
        self, dag_id: str, run_id: str, task_id: str, what: str = "start", timeout: float = 15
    ) -> Event:
        def seen() -> Event | None:
            return next(
                (e for e in self.events(dag_id, run_id) if e.task_id == task_id and e.what == what),
                None,
            )

        return self.server.wait_until(seen, timeout, f"{dag_id} {run_id} {task_id} {what}")


def write_dag(folder: Path, name: str, source: str) -> None:
    """Write a DAG file whole: a half-written file must never be parsed."""
    tmp = folder / f".{name}.tmp"
    tmp.write_text(textwrap.dedent(source))
    tmp.rename(folder / name)


def runs_path(server: Standalone, dag_id: str, run_id: str = "") -> str:
    base = f"{server.dag_path(dag_id)}/runs"
    return f"{base}/{urllib.parse.quote(run_id, safe='')}" if run_id else base


def trigger(server: Standalone, dag_id: str, run_id: str, conf: Any = None) -> Any:
    return server.post(runs_path(server, dag_id), {"run_id": run_id, "conf": conf or {}})


def get_task(server: Standalone, dag_id: str, run_id: str, task_id: str) -> Any:
    return server.get(f"{runs_path(server, dag_id, run_id)}/tasks/{task_id}")


def task_states(run: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {t["task_id"]: (t["state"], t["try_number"]) for t in run["tasks"]}


def wait_run_state(server: Standalone, dag_id: str, run_id: str, state: str, timeout: float) -> Any:
    def reached() -> Any:
        run = server.run(dag_id, run_id)
        return run if run["state"] == state else None

    return server.wait_until(reached, timeout, f"run {dag_id} {run_id} to be {state}")


def gone(pid: int) -> bool:
    """The process has ended (a zombie whose parent has not reaped it yet counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def stays(check: Callable[[], bool], seconds: float, what: str) -> None:
    """An observation window: `check` must hold the whole time (asserting that nothing happens
    needs one)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.1)


def raw_request(
    server: Standalone, method: str, path: str, data: bytes | None, token: str = ""
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload)
        except ValueError:
            return exc.code, payload.decode(errors="replace")


def stop_leftovers(home: Path, traces: Path) -> None:
    """Kill what the scenarios may have left running once the standalone is gone: workers of
    this home (each leads its own process group; a stopped standalone leaves them to finish and
    report) and the `sleep`s shell tasks started. Only processes these tests started."""
    groups = set(WorkerRegistry(home / "workers").live().values())
    for path in traces.glob("*.pids"):  # the `sleep`s of shell tasks, should they outlive them
        for pid in (int(p) for p in path.read_text().split()):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep"):
                    groups.add(os.getpgid(pid))
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)


def make_lab(root: Path, files: dict[str, str]) -> tuple[Path, Path]:
    dags, traces = root / "dags", root / "traces"
    dags.mkdir(parents=True)
    traces.mkdir()
    (dags / "_trace.py").write_text(TRACE_HELPER.format(traces=str(traces)))
    for name, source in files.items():
        write_dag(dags, name, source.replace("{traces}", str(traces)))
    return dags, traces


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("scenarios")
    dags, traces = make_lab(root, DAG_FILES)
    server = Standalone(root / "home", dags=dags, env=FAST, copy_examples=False).start()
    try:
        for dag_id in DAG_IDS:
            server.wait_for_dag(dag_id)
        yield Lab(server, dags, traces)
    finally:
        server.stop()
        stop_leftovers(server.home, traces)


# --- 1. restart safety -----------------------------------------------------------------------


def check_attempts(lab: Lab, run: dict[str, Any]) -> None:
    """From the trace: no two tries of one task overlapped in time, no try started twice, and
    each task completed exactly once unless a retry was recorded."""
    by_task: dict[str, list[Event]] = defaultdict(list)
    for event in lab.events("restart_safety", run["run_id"]):
        by_task[event.task_id].append(event)
    for task_id, (state, try_number) in task_states(run).items():
        events = by_task[task_id]
        assert not [e for e in events if e.what == "overlap"], f"{task_id}: tries overlapped"
        starts = Counter(e.try_number for e in events if e.what == "start")
        assert all(n == 1 for n in starts.values()), f"{task_id}: a try started twice: {events}"
        ends = [e for e in events if e.what == "end"]
        assert state == "success"
        if try_number == 1:
            assert len(ends) == 1, f"{task_id} completed {len(ends)} times: {events}"
        else:  # a retry was recorded; the last try completed
            assert any(e.try_number == try_number for e in ends), events
        attempts = get_task(lab.server, "restart_safety", run["run_id"], task_id)["attempts"]
        intervals = []
        for attempt in attempts:
            n = attempt["try_number"]
            start = next((e.at for e in events if e.what == "start" and e.try_number == n), None)
            end = next((e.at for e in events if e.what == "end" and e.try_number == n), None)
            if start is not None:
                # A try killed before it ended lived at most until it was declared lost.
                intervals.append((start, end if end is not None else at(attempt["end_date"])))
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, f"{task_id}: two tries ran at once: {intervals}"


def test_a_crashed_standalone_restarts_without_running_any_task_twice(tmp_path: Path) -> None:
    dags, traces = make_lab(tmp_path, {"restart.py": RESTART_DAG})
    # Adopted workers resume heartbeating within an interval of the API coming back, and the
    # scheduler (started once the API serves) counts from its own start; 10 s leaves room for a
    # loaded 2-core CI machine.
    env = {**FAST, "BRISA__SCHEDULER__HEARTBEAT_TIMEOUT": "10s"}
    servers = [Standalone(tmp_path / "home", dags=dags, env=env, copy_examples=False)]
    for _ in range(2):
        servers.append(Standalone(tmp_path / "home", dags=dags, env=env, copy_examples=False))
        # Running workers keep reporting to the URL they were given: each new process takes
        # it over.
        servers[-1].port, servers[-1].url = servers[0].port, servers[0].url

    def running(server: Standalone, prefix: str, count: int) -> bool:
        """At least `count` tasks whose id starts with `prefix` run, over both runs."""
        runs = [server.run("restart_safety", r) for r in ("r1", "r2")]
        states = [s for r in runs for t, (s, _) in task_states(r).items() if t.startswith(prefix)]
        return states.count("running") >= count

    first, second, third = servers
    try:
        first.start().wait_for_dag("restart_safety")
        for run_id in ("r1", "r2"):
            trigger(first, "restart_safety", run_id)
        first.wait_until(lambda: running(first, "fan_", 4), 15, "the fan-outs to be running")
        first.kill()
        second.start()
        second.wait_until(lambda: running(second, "join", 1), 20, "a join to be running")
        second.kill()
        third.start()
        lab = Lab(third, dags, traces)
        for run_id in ("r1", "r2"):
            done = third.wait_for_run("restart_safety", run_id, timeout=30)
            assert done["state"] == "success", task_states(done)
            check_attempts(lab, done)
    finally:
        for server in servers:
            server.kill()
        stop_leftovers(tmp_path / "home", traces)


# --- 2. a killed worker ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dag_id", "outcome"), [("lost_worker_fails", "failed"), ("lost_worker_retries", "success")]
)
def test_a_killed_worker_is_noticed_at_once_and_failed_or_retried(
    lab: Lab, dag_id: str, outcome: str
) -> None:
    server = lab.server
    trigger(server, dag_id, "r1")
    worker = lab.wait_event(dag_id, "r1", "victim").pid
    os.kill(worker, signal.SIGKILL)
    killed = time.monotonic()

    def first_try_over() -> Any:
        ti = get_task(server, dag_id, "r1", "victim")
        return ti if ti["attempts"][0]["state"] != "running" else None

    ti = server.wait_until(first_try_over, 10, "the lost worker to be noticed")
    # The bound is the promise: a dead worker is seen from the process table at the next
    # pass, well before the 3 s heartbeat timeout would say so (tests/system checks the same
    # at the next pass of a fake clock).
    assert time.monotonic() - killed < 2.5
    first = ti["attempts"][0]
    assert "worker lost" in first["error"]
    assert "process ended" in first["error"]
    done = server.wait_for_run(dag_id, "r1", timeout=20)
    assert done["state"] == outcome
    ti = get_task(server, dag_id, "r1", "victim")
    if outcome == "failed":
        assert (ti["state"], ti["try_number"]) == ("failed", 1)
        assert "worker lost" in ti["error"]
    else:
        assert (ti["state"], ti["try_number"]) == ("success", 2)
        assert ti["return_value"] == "victim"
        assert [a["state"] for a in ti["attempts"]] == ["up_for_retry", "success"]
    ran = [(e.try_number, e.what) for e in lab.events(dag_id, "r1")]
    retried = [(2, "start"), (2, "end")]  # and no "overlap": try 1 was gone by then
    assert ran == [(1, "start"), *(retried if outcome == "success" else [])]


# --- 3. execution_timeout ----------------------------------------------------------------------


def test_execution_timeout_kills_the_task_with_its_children_and_fails_downstream(
    lab: Lab,
) -> None:
    server = lab.server
    trigger(server, "timeout_kills_group", "r1")

    def pids(task_id: str) -> list[int]:
        path = lab.traces / f"{task_id}.pids"
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    for task_id in ("hang", "stubborn"):
        server.wait_until(lambda t=task_id: len(pids(t)) == 2, 15, f"{task_id} to start a sleep")
    processes = pids("hang") + pids("stubborn")  # each: the worker, the `sleep` of its shell
    assert not any(gone(p) for p in processes)
    done = server.wait_for_run("timeout_kills_group", "r1", timeout=20)
    assert done["state"] == "failed"
    assert task_states(done) == {
        "hang": ("failed", 1),
        "stubborn": ("failed", 1),
        "after": ("upstream_failed", 0),
    }
    for task_id in ("hang", "stubborn"):
        ti = get_task(server, "timeout_kills_group", "r1", task_id)
        assert "timed out after 2s" in ti["error"]
        assert 2 <= at(ti["end_date"]) - at(ti["start_date"]) < 10
    # The whole process group goes, SIGTERM or not.
    server.wait_until(lambda: all(gone(p) for p in processes), 10, "the tasks' processes to end")


# --- 4. cancel -------------------------------------------------------------------------------


def test_cancelling_a_running_run_stops_its_workers(lab: Lab) -> None:
    server = lab.server
    trigger(server, "cancel_me", "r1")
    workers = [lab.wait_event("cancel_me", "r1", f"hang_{i}").pid for i in (0, 1)]
    answer = server.post(f"{runs_path(server, 'cancel_me', 'r1')}/cancel")
    assert answer["state"] == "cancelled"
    assert {s for s, _ in task_states(answer).values()} == {"cancelled"}
    server.wait_until(lambda: all(gone(p) for p in workers), 10, "the workers to be stopped")
    run = server.run("cancel_me", "r1")
    assert run["state"] == "cancelled"
    assert task_states(run) == {
        "hang_0": ("cancelled", 1),
        "hang_1": ("cancelled", 1),
        "later": ("cancelled", 0),
    }
    assert [e for e in lab.events("cancel_me") if e.what == "end"] == []


# --- 5. clear --------------------------------------------------------------------------------


def test_clearing_a_finished_task_with_downstream_runs_those_again(lab: Lab) -> None:
    server = lab.server
    trigger(server, "clear_demo", "r1")
    assert server.wait_for_run("clear_demo", "r1")["state"] == "success"
    answer = server.post(
        f"{runs_path(server, 'clear_demo', 'r1')}/clear", {"task_ids": ["b"], "downstream": True}
    )
    assert sorted(answer["cleared"]) == ["b", "c"]
    assert answer["run"]["state"] == "running"
    done = wait_run_state(server, "clear_demo", "r1", "success", 20)
    assert task_states(done) == {
        "a": ("success", 1),
        "b": ("success", 2),
        "c": ("success", 2),
        "d": ("success", 1),
    }
    ran = Counter((e.task_id, e.try_number) for e in lab.events("clear_demo") if e.what == "end")
    assert ran == {("a", 1): 1, ("b", 1): 1, ("c", 1): 1, ("d", 1): 1, ("b", 2): 1, ("c", 2): 1}


def test_clearing_a_running_task_stops_its_worker_and_starts_a_new_try(lab: Lab) -> None:
    server = lab.server
    trigger(server, "clear_running", "r1")
    worker = lab.wait_event("clear_running", "r1", "slow").pid
    answer = server.post(
        f"{runs_path(server, 'clear_running', 'r1')}/clear", {"task_ids": ["slow"]}
    )
    assert answer["cleared"] == ["slow"]
    server.wait_until(lambda: gone(worker), 10, "the cleared worker to be stopped")
    done = server.wait_for_run("clear_running", "r1", timeout=20)
    assert done["state"] == "success"
    assert task_states(done) == {"slow": ("success", 2), "after": ("success", 1)}
    slow = get_task(server, "clear_running", "r1", "slow")
    assert [a["state"] for a in slow["attempts"]] == ["cancelled", "success"]
    assert at(slow["attempts"][1]["start_date"]) >= at(slow["attempts"][0]["end_date"])
    slow_events = [e for e in lab.events("clear_running") if e.task_id == "slow"]
    assert [(e.try_number, e.what) for e in slow_events] == [(1, "start"), (2, "start"), (2, "end")]


# --- 6. mark ---------------------------------------------------------------------------------


def test_marking_tasks_by_hand_decides_the_run(lab: Lab) -> None:
    server = lab.server
    trigger(server, "mark_done", "r1")
    assert server.wait_for_run("mark_done", "r1")["state"] == "success"
    mark = f"{runs_path(server, 'mark_done', 'r1')}/mark"
    assert server.post(mark, {"task_ids": ["second"], "state": "failed"})["changed"] == ["second"]
    run = wait_run_state(server, "mark_done", "r1", "failed", 10)
    assert task_states(run) == {"first": ("success", 1), "second": ("failed", 1)}
    assert server.post(mark, {"task_ids": ["second"], "state": "success"})["changed"] == ["second"]
    wait_run_state(server, "mark_done", "r1", "success", 10)


def test_marking_a_running_task_success_lets_downstream_run_and_stops_the_worker(
    lab: Lab,
) -> None:
    server = lab.server
    trigger(server, "mark_running", "r1")
    worker = lab.wait_event("mark_running", "r1", "hang").pid
    mark = f"{runs_path(server, 'mark_running', 'r1')}/mark"
    assert server.post(mark, {"task_ids": ["hang"], "state": "success"})["changed"] == ["hang"]
    done = server.wait_for_run("mark_running", "r1", timeout=20)
    assert done["state"] == "success"
    assert task_states(done) == {"hang": ("success", 1), "after": ("success", 1)}
    server.wait_until(lambda: gone(worker), 15, "the marked task's worker to be stopped")
    assert [e.task_id for e in lab.events("mark_running") if e.what == "end"] == ["after"]


# --- 7. retries with exponential backoff -------------------------------------------------------


def test_retries_wait_longer_each_time_with_exponential_backoff(lab: Lab) -> None:
    server = lab.server
    trigger(server, "backoff_demo", "r1")
    delays: dict[int, float] = {}

    def finished() -> bool:
        ti = get_task(server, "backoff_demo", "r1", "flaky")
        if ti["state"] == "up_for_retry":
            delays[ti["try_number"]] = at(ti["next_try_at"]) - at(ti["end_date"])
        return ti["state"] in ("success", "failed")

    server.wait_until(finished, 30, "flaky to finish")
    # retry_delay 1 s, doubled after each failed try.
    assert delays == {1: pytest.approx(1.0, abs=0.01), 2: pytest.approx(2.0, abs=0.01)}
    # The task is done; the run is decided by the scheduler's next pass.
    assert server.wait_for_run("backoff_demo", "r1")["state"] == "success"
    flaky = get_task(server, "backoff_demo", "r1", "flaky")
    assert (flaky["try_number"], flaky["return_value"]) == (3, 3)
    attempts = flaky["attempts"]
    assert [a["state"] for a in attempts] == ["up_for_retry", "up_for_retry", "success"]
    assert "transient failure on try 1" in attempts[0]["error"]
    # No try starts before its delay is over (nor long after it).
    for before, after in itertools.pairwise(attempts):
        waited = at(after["start_date"]) - at(before["end_date"])
        delay = delays[before["try_number"]]
        assert delay <= waited < delay + 5, (before, after)


# --- 8. pause --------------------------------------------------------------------------------


def test_a_paused_dag_gets_no_scheduled_runs_until_unpaused(lab: Lab) -> None:
    server = lab.server
    write_dag(
        lab.dags,
        "pause.py",
        """
        from datetime import datetime, timedelta
        from brisa import DAG, shell

        with DAG("pause_me", schedule=timedelta(seconds=1), start_date=datetime(2020, 1, 1)):
            shell("tick", "true")
        """,
    )
    path = server.dag_path("pause_me")
    server.wait_for_dag("pause_me")

    def newest_logical_date() -> float:
        runs = server.get(f"{path}/runs?limit=1")["runs"]
        return at(runs[0]["logical_date"]) if runs else 0.0

    try:
        # A new DAG starts unpaused: it gets its runs.
        server.wait_until(newest_logical_date, 5, "a first scheduled run")
        paused = server.request("PATCH", path, {"is_paused": True})
        paused_at = time.time()
        assert paused["is_paused"] is True
        assert paused["next_run"] is None
        stays(
            lambda: newest_logical_date() <= paused_at,
            3.0,
            "a paused DAG got a new scheduled run",
        )
        assert server.get(path)["next_run"] is None
        unpaused = server.request("PATCH", path, {"is_paused": False})
        unpaused_at = time.time()
        assert unpaused["is_paused"] is False
        server.wait_until(
            lambda: newest_logical_date() > unpaused_at, 5, "a scheduled run after unpausing"
        )
        newest = server.get(f"{path}/runs?limit=1")["runs"][0]
        assert newest["run_type"] == "scheduled"
    finally:
        server.request("PATCH", path, {"is_paused": True})


# --- 9. DAG files ----------------------------------------------------------------------------


def test_new_dag_files_are_listed_fast_and_broken_ones_reported_with_their_line(
    lab: Lab,
) -> None:
    server = lab.server
    write_dag(
        lab.dags,
        "dropped.py",
        """
        from brisa import DAG, shell

        with DAG("dropped_in"):
            shell("hello", "echo dropped")
        """,
    )
    # The bound is the promise: a new DAG file is listed fast (the 1 s scan, then one parse).
    dropped = time.monotonic()
    server.wait_for_dag("dropped_in", timeout=3.0)
    assert time.monotonic() - dropped <= 3.0
    write_dag(
        lab.dags,
        "broken_definition.py",
        """
        from brisa import DAG, shell

        with DAG("broken_definition"):
            shell("same", "true")
            shell("same", "true")
        """,
    )
    write_dag(lab.dags, "broken_syntax.py", "from brisa import DAG\n\nwith DAG('x'):\n    )\n")

    def reported() -> dict[str, Any]:
        errors = server.get("/api/v1/import-errors")["import_errors"]
        found = {e["filename"]: e for e in errors}
        return found if {"broken_definition.py", "broken_syntax.py"} <= set(found) else {}

    errors = server.wait_until(reported, 5, "the broken files to be reported")
    assert errors["broken_definition.py"]["lineno"] == 6
    assert "duplicate task id 'same'" in errors["broken_definition.py"]["message"]
    assert errors["broken_syntax.py"]["lineno"] == 4
    assert "SyntaxError" in errors["broken_syntax.py"]["message"]
    listed = {d["dag_id"] for d in server.list_dags("default")}
    assert {"dropped_in", "inputs", "clear_demo", "backoff_demo"} <= listed
    assert "broken_definition" not in listed
    trigger(server, "dropped_in", "r1")
    done = server.wait_for_run("dropped_in", "r1")
    assert done["state"] == "success"
    assert get_task(server, "dropped_in", "r1", "hello")["return_value"] == "dropped"


# --- 10. bad input -----------------------------------------------------------------------------


RUNS = "/api/v1/teams/default/dags/inputs/runs"
DAG = "/api/v1/teams/default/dags/inputs"
WORKER = "/execution/v1/attempts/1"


def bad(
    name: str,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str = "",
) -> Any:
    return pytest.param(method, path, body, token, id=name)


BAD_REQUESTS = [
    bad("malformed JSON", "POST", RUNS, b'{"conf": {"n": 1'),
    bad("body is not an object", "POST", RUNS, b"[1, 2]"),
    bad("conf is a string", "POST", RUNS, b'{"conf": "n=1"}'),
    bad("conf is a list", "POST", RUNS, b'{"conf": [1]}'),
    bad("param of the wrong type", "POST", RUNS, b'{"conf": {"n": "many"}}'),
    bad("boolean for an integer", "POST", RUNS, b'{"conf": {"n": true}}'),
    bad("param under its minimum", "POST", RUNS, b'{"conf": {"n": -1}}'),
    bad("unknown param", "POST", RUNS, b'{"conf": {"m": 1}}'),
    bad("NaN for a number param", "POST", RUNS, b'{"conf": {"ratio": NaN}}'),
    bad("extra key in the body", "POST", RUNS, b'{"conf": {}, "dry_run": true}'),
    bad("run id with a slash", "POST", RUNS, b'{"run_id": "a/b"}'),
    bad("existing run id", "POST", RUNS, b'{"run_id": "ok"}'),
    bad("logical date is no date", "POST", RUNS, b'{"logical_date": "yesterday"}'),
    bad("logical date without zone", "POST", RUNS, b'{"logical_date": "2026-01-01T00:00:00"}'),
    bad("date before 1 AD", "POST", RUNS, b'{"logical_date": "0001-01-01T00:00+09:00"}'),
    bad("date after 9999", "POST", RUNS, b'{"logical_date": "9999-12-31T23:00-09:00"}'),
    bad("unknown DAG", "GET", "/api/v1/teams/default/dags/nope"),
    bad("unknown team", "GET", "/api/v1/teams/nope/dags/inputs"),
    bad("trigger an unknown DAG", "POST", "/api/v1/teams/default/dags/nope/runs", b"{}"),
    bad("unknown run", "GET", f"{RUNS}/nope"),
    bad("cancel an unknown run", "POST", f"{RUNS}/nope/cancel", b"{}"),
    bad("unknown task", "GET", f"{RUNS}/ok/tasks/nope"),
    bad("logs of an unknown task", "GET", f"{RUNS}/ok/tasks/nope/logs"),
    bad("log try 0", "GET", f"{RUNS}/ok/tasks/echo/logs?try=0"),
    bad("log try never run", "GET", f"{RUNS}/ok/tasks/echo/logs?try=99"),
    bad("negative limit", "GET", f"{RUNS}?limit=-1"),
    bad("limit not a number", "GET", f"{RUNS}?limit=ten"),
    bad("negative offset", "GET", f"{RUNS}?offset=-5"),
    bad("clear an unknown task", "POST", f"{RUNS}/ok/clear", b'{"task_ids": ["nope"]}'),
    bad("clear no task", "POST", f"{RUNS}/ok/clear", b'{"task_ids": []}'),
    bad("clear task_ids not a list", "POST", f"{RUNS}/ok/clear", b'{"task_ids": "echo"}'),
    bad("mark an odd state", "POST", f"{RUNS}/ok/mark", b'{"task_ids": ["echo"], "state": "x"}'),
    bad("pause with a non-boolean", "PATCH", DAG, b'{"is_paused": 3}'),
    bad("worker call without token", "POST", f"{WORKER}/1/start", b'{"pid": 1}'),
    bad("worker call, forged token", "POST", f"{WORKER}/1/heartbeat", b"{}", "1.1.0"),
    bad("token of another attempt", "POST", f"{WORKER}/2/finish", b"{}", "1.1.0"),
    bad("token of garbage", "POST", f"{WORKER}/1/start", b"{}", "x"),
]


@pytest.fixture(scope="module")
def finished_input_run(lab: Lab) -> str:
    trigger(lab.server, "inputs", "ok")
    assert lab.server.wait_for_run("inputs", "ok")["state"] == "success"
    return "ok"


@pytest.mark.parametrize(("method", "path", "body", "token"), BAD_REQUESTS)
def test_bad_input_gets_a_4xx_with_a_readable_detail(
    lab: Lab,
    finished_input_run: str,
    method: str,
    path: str,
    body: bytes | None,
    token: str,
) -> None:
    status, answer = raw_request(lab.server, method, path, body, token)
    assert 400 <= status < 500, (status, answer)
    assert isinstance(answer, dict), answer
    detail = answer.get("detail")
    assert isinstance(detail, str), answer
    assert detail.strip()
    assert "Traceback" not in detail


def test_a_rejected_trigger_creates_no_run(lab: Lab, finished_input_run: str) -> None:
    before = lab.server.get(RUNS)["runs"]
    details = []
    for conf in ({"n": "x"}, {"n": -1}, {"m": 1}):
        with pytest.raises(ApiError) as info:
            trigger(lab.server, "inputs", "rejected", conf)
        assert info.value.status == 400
        details.append(info.value.detail)
    assert details == [
        "param 'n' must be of type integer, got \"x\"",
        "param 'n' must be >= 0, got -1",
        "unknown param(s) m; this DAG accepts: n, ratio",
    ]
    assert lab.server.get(RUNS)["runs"] == before
