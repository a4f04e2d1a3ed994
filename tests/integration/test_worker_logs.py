"""Task logs shipped by real workers: a `brisa standalone` runs the attempts (local executor,
one `brisa task run` process each) and the tests read the object store directly, while the
task runs and after it ended: live chunks, a SIGKILLed worker, masking, an S3 outage."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.errors import NotFound
from brisa.logs import layout
from brisa.logs.server import LOG_SERVER_NAME
from brisa.objectstore import ObjectStore, open_object_store
from brisa.testing.server import eventually
from brisa.worker.registry import WorkerRegistry
from support.standalone import FINISHED, Standalone

CHUNK_INTERVAL = 1.0
ENV_SECRET = "env-secret-value-17"
PARAM_SECRET = "conf-secret-value-42"
STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


@pytest.fixture(scope="module")
def brisa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """One standalone with a local-folder log store, shipping every second."""
    env = {"BRISA__LOGS__CHUNK_INTERVAL": str(CHUNK_INTERVAL), "LOGTEST_API_TOKEN": ENV_SECRET}
    home = tmp_path_factory.mktemp("home")
    server = Standalone(home, env=env, copy_examples=False).start()
    try:
        yield server
    finally:
        server.stop()


def local_store(brisa: Standalone) -> ObjectStore:
    return open_object_store(f"file://{brisa.home / 'logs'}")


def add_dag(brisa: Standalone, dag_id: str, source: str) -> None:
    (brisa.dags / f"{dag_id}.py").write_text(source)
    brisa.wait_for_dag(dag_id)


def prefix(run: dict[str, Any], task_id: str) -> str:
    return layout.attempt_prefix("default", run["dag_id"], run["run_id"], task_id, 1)


def text(store: ObjectStore, key_prefix: str) -> str:
    for _ in range(10):
        try:
            return layout.read(store, key_prefix, 0, 64 << 20)[0].decode()
        except FileNotFoundError:  # the local store's list() racing the worker's cleanup
            time.sleep(0.05)
    raise AssertionError(f"cannot read {key_prefix}")


def final_text(brisa: Standalone, store: ObjectStore, key_prefix: str) -> str:
    """The whole log once the worker has written full.log (it does so after reporting)."""

    def only_full_log() -> bool:
        try:
            return [o.key for o in store.list(key_prefix)] == [key_prefix + layout.FULL]
        except FileNotFoundError:  # the local store's list() racing the worker's cleanup
            return False

    brisa.wait_until(only_full_log, 30, f"{key_prefix}full.log")
    return text(store, key_prefix)


def running(brisa: Standalone, run: dict[str, Any]) -> bool:
    """Not finished yet (queued or running)."""
    return brisa.run(run["dag_id"], run["run_id"])["state"] not in FINISHED


def finished(brisa: Standalone, run: dict[str, Any]) -> dict[str, Any]:
    done: dict[str, Any] = brisa.wait_for_run(run["dag_id"], run["run_id"])
    return done


LIVE = """
import time
from brisa import DAG, task

with DAG("live_lines", schedule=None):
    @task
    def ticker():
        for i in range(25):
            print(f"tick {i} at {time.time():.3f}")  # no flush: buffered as Python does
            time.sleep(0.2)
    ticker()
"""


def test_lines_are_readable_from_the_store_while_the_task_runs(brisa: Standalone) -> None:
    add_dag(brisa, "live_lines", LIVE)
    store, run = local_store(brisa), brisa.trigger("live_lines")
    key_prefix, seen, while_running = prefix(run, "ticker"), {}, 0
    while running(brisa, run):
        now = time.time()
        for i, printed in re.findall(r"tick (\d+) at ([\d.]+)", text(store, key_prefix)):
            if i not in seen:
                seen[i] = now - float(printed)
                while_running += 1
        time.sleep(0.05)
    assert while_running >= 10, f"only {while_running} lines were visible while it ran"
    late = {i: round(delay, 2) for i, delay in seen.items() if delay > CHUNK_INTERVAL + 1.0}
    assert not late, f"lines shipped later than the chunk interval + 1 s: {late}"
    final = final_text(brisa, store, key_prefix)
    assert re.findall(r"tick (\d+) ", final) == [str(i) for i in range(25)]


KILLED = """
from brisa import DAG, shell

with DAG("killed_worker", schedule=None, retries=0):
    shell("count", 'echo "worker $PPID"; i=0; while [ $i -lt 150 ]; do '
                   'echo "line $i at $(date +%s.%N)"; i=$((i+1)); sleep 0.1; done')
"""


def test_a_worker_killed_with_sigkill_loses_at_most_the_last_chunk_interval(
    brisa: Standalone,
) -> None:
    add_dag(brisa, "killed_worker", KILLED)
    store, run = local_store(brisa), brisa.trigger("killed_worker")
    key_prefix = prefix(run, "count")
    found = brisa.wait_until(
        lambda: re.search(r"worker (\d+)", text(store, key_prefix)), 15, "the worker's pid"
    )
    pid = int(found.group(1))
    assert pid in WorkerRegistry(brisa.home / "workers").live().values()  # the worker itself
    time.sleep(2.5)
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    assert finished(brisa, run)["state"] == "failed"
    log = final_text(brisa, store, key_prefix)  # finished by its log process or the executor
    shipped = [(int(i), float(t)) for i, t in re.findall(r"line (\d+) at ([\d.]+)", log)]
    assert [i for i, _ in shipped] == list(range(len(shipped))), "lines missing or out of order"
    last_shipped = max(t for _, t in shipped)
    assert last_shipped >= killed_at - CHUNK_INTERVAL - 0.5, (
        f"lost {killed_at - last_shipped:.2f}s of log (chunk interval {CHUNK_INTERVAL}s)"
    )
    last = log.splitlines()[-1]
    assert (
        "brisa: the worker process ended without closing its log (killed?)" in last
        or "the executor shipped the last" in last
    ), last


LAST_WORDS = """
import time
from brisa import DAG, task

with DAG("last_words", schedule=None, retries=0):
    @task
    def last_words():
        for i in range(5):
            print(f"last words {i}", flush=True)
        time.sleep(60)
    last_words()
"""


def log_server_of(spool: Path) -> int:
    """The pid of the log server (ADR 0025) that has the spool file `spool` open."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != LOG_SERVER_NAME:
                continue
            if any(os.readlink(fd) == str(spool) for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    raise AssertionError(f"no log server holds {spool}")


@pytest.mark.parametrize("log_server_killed", [False, True])
def test_what_reached_the_spool_of_a_killed_worker_group_is_shipped(
    tmp_path: Path, log_server_killed: bool
) -> None:
    """The worker's whole process group is SIGKILLed before its first chunk is due: the
    lines are only in its spool file. The log server, outside the group, ships them; when it
    is killed too, the executor ships them from the spool file."""
    env = {"BRISA__LOGS__CHUNK_INTERVAL": "600"}
    brisa = Standalone(tmp_path / "home", env=env, copy_examples=False).start()
    try:
        add_dag(brisa, "last_words", LAST_WORDS)
        store, run = local_store(brisa), brisa.trigger("last_words")
        spools = brisa.home / "spool"

        def spooled() -> Path | None:
            for path in spools.glob("*.spool"):
                if b"last words 4\n" in path.read_bytes():
                    return path
            return None

        spool = brisa.wait_until(spooled, 20, "the last words in the worker's spool file")
        assert store.list("") == []  # nothing was shipped yet
        server = log_server_of(spool)
        (pid,) = WorkerRegistry(brisa.home / "workers").live().values()
        if log_server_killed:
            os.kill(server, signal.SIGKILL)
        os.killpg(pid, signal.SIGKILL)
        assert finished(brisa, run)["state"] == "failed"
        log = final_text(brisa, store, prefix(run, "last_words"))
        brisa.wait_until(lambda: not list(spools.glob("*.spool")), 10, "the spool gone")
    finally:
        brisa.stop()
    assert re.findall(r"last words (\d)\n", log) == ["0", "1", "2", "3", "4"]
    last = log.splitlines()[-1]
    assert STAMPED.match(last)
    if log_server_killed:
        assert "the executor shipped the last" in last
    else:
        assert "brisa: the worker process ended without closing its log (killed?)" in last


MASKED = """
import os, sys, time
from brisa import DAG, Param, shell, task

with DAG("masked", schedule=None, params={"api_key": Param("default-value", secret=True)}):
    @task
    def leak(context):
        key = context.params["api_key"]
        print(f"param {key}")
        print("env", os.environ["LOGTEST_API_TOKEN"])
        sys.stdout.write("split " + key[:5])
        sys.stdout.flush()
        time.sleep(1.5)  # a chunk is cut while the secret is half written
        sys.stdout.write(key[5:] + " end\\n")
    leak() >> shell("leak_shell", 'echo "shell $LOGTEST_API_TOKEN"; echo "$BRISA_PARAMS"')
"""


def test_secrets_from_the_environment_and_secret_params_never_leave_the_worker(
    brisa: Standalone,
) -> None:
    add_dag(brisa, "masked", MASKED)
    store, run = local_store(brisa), brisa.trigger("masked", {"api_key": PARAM_SECRET})
    chunks_seen: list[bytes] = []
    while running(brisa, run):
        # A chunk may be replaced by full.log while it is listed or fetched. (The local
        # folder store's list() still raises FileNotFoundError in that race.)
        with contextlib.suppress(NotFound, FileNotFoundError):
            for info in store.list(prefix(run, "leak")):
                chunks_seen.append(store.get(info.key))
        time.sleep(0.1)
    assert finished(brisa, run)["state"] == "success"
    python = final_text(brisa, store, prefix(run, "leak"))
    shell = final_text(brisa, store, prefix(run, "leak_shell"))
    assert "param ***\n" in python and "env ***\n" in python and "split *** end\n" in python
    assert "shell ***\n" in shell and '"api_key": "***"' in shell
    assert len(chunks_seen) > 1 and not any(b"conf-" in chunk for chunk in chunks_seen)
    for path in (brisa.home / "logs").rglob("*"):  # the store, and the workers' local spools
        if path.is_file():
            assert b"secret-value" not in path.read_bytes(), path
    for path in (brisa.home / "spool").rglob("*"):
        assert not path.is_file() or b"secret-value" not in path.read_bytes(), path


FAILS = """
from brisa import DAG, task

with DAG("fails", schedule=None, retries=0):
    @task
    def boom():
        print("about to fail")
        raise ValueError("no such order 42")
    boom()
"""


def test_the_log_holds_the_workers_own_lines_and_the_traceback(brisa: Standalone) -> None:
    add_dag(brisa, "fails", FAILS)
    store, run = local_store(brisa), brisa.trigger("fails")
    assert finished(brisa, run)["state"] == "failed"
    log = final_text(brisa, store, prefix(run, "boom"))
    lines = log.splitlines()
    assert all(STAMPED.match(line) for line in lines), log
    assert "brisa: attempt 1 of task instance" in lines[0]
    assert "brisa: config (" in lines[1]
    assert any(line.endswith('brisa: config | token = "***"') for line in lines[2:])
    for expected in (
        "running default/fails",
        "about to fail",
        "Traceback (most recent call last):",
        "ValueError: no such order 42",
        "brisa: task failed in",
        "brisa: recorded as failed",
    ):
        assert expected in log, expected
    assert not list((brisa.home / "spool").glob("*.spool")), "the local spool stays behind"


TIMED_OUT = """
from brisa import DAG, shell

with DAG("timed_out", schedule=None, retries=0):
    shell("slow", "echo started; sleep 30; echo never", execution_timeout=2)
"""


def test_a_worker_stopped_by_sigterm_ships_its_whole_log_first(brisa: Standalone) -> None:
    add_dag(brisa, "timed_out", TIMED_OUT)
    store, run = local_store(brisa), brisa.trigger("timed_out")
    assert finished(brisa, run)["state"] == "failed"
    log = final_text(brisa, store, prefix(run, "slow"))
    assert "Z started\n" in log and "Z never\n" not in log
    assert log.rstrip().endswith("brisa: the worker received SIGTERM; shipping its log and exiting")


# --- An S3 outage while the task runs ---------------------------------------------------------

STEADY = """
import time
from brisa import DAG, task

with DAG("steady", schedule=None, retries=0):
    @task
    def steady():
        for i in range(50):
            print(f"step {i}", flush=True)
            time.sleep(0.2)
        return "done"
    steady()
"""


def test_an_s3_outage_mid_task_changes_nothing_but_a_note(
    tmp_path: Path, s3_server: Any, s3_location: tuple[str, dict[str, str]]
) -> None:
    location, options = s3_location
    env = {"BRISA__LOGS__CHUNK_INTERVAL": str(CHUNK_INTERVAL), "BRISA__LOGS__LOCATION": location}
    env |= {f"BRISA__LOGS__S3_{key.upper()}": value for key, value in options.items()}
    brisa = Standalone(tmp_path / "home", env=env, copy_examples=False).start()
    store = open_object_store(location, options)
    try:
        add_dag(brisa, "steady", STEADY)
        run = brisa.trigger("steady")
        key_prefix = prefix(run, "steady")
        brisa.wait_until(lambda: "step 5\n" in text(store, key_prefix), 20, "the first chunks")
        try:
            s3_server.stop()
            time.sleep(3.0)
        finally:
            s3_server.start()
            s3_server.create_bucket(location.removeprefix("s3://").split("/")[0])  # moto forgot
        assert finished(brisa, run)["state"] == "success"
        log = final_text(brisa, store, key_prefix)
    finally:
        brisa.stop()
    assert re.findall(r"step (\d+)\n", log) == [str(i) for i in range(50)]
    assert "brisa: the log store is unavailable" in log
    assert re.search(r"log store was unavailable for [\d.]+s .*; \d+ bytes of this log", log)
    assert "recorded as success" in log


ISOLATION = """
import json, os, socket, time
from brisa import DAG, task

with DAG("log_isolation", schedule=None, max_active_tasks=2):
    @task
    def victim():
        print("victim canary VICTIM-CANARY-7f3", flush=True)
        time.sleep(4)
        print("victim done", flush=True)

    @task
    def attacker(context):
        time.sleep(1)  # the victim's log is being shipped by the same log server
        target = [context.team, context.dag_id, context.run_id, "victim", 1]
        forged = json.dumps({"op": "begin", "attempt": target, "secrets": []}) + "\\\\n"
        tried, heard = 0, []
        for name in os.listdir("/proc/self/fd"):
            try:
                sock = socket.socket(fileno=os.dup(int(name)))
            except OSError:
                continue
            with sock:
                if sock.family != socket.AF_UNIX:
                    continue
                tried += 1
                sock.settimeout(0.5)
                # As if it were the log server's own socket: a new connection of ours, whose
                # log would be the victim's.
                read_end, write_end = os.pipe()
                ours, theirs = socket.socketpair()
                opening = {"path": "/tmp/forged.log", "config": {"location": "x"},
                           "secrets": [], "origin": time.monotonic()}
                for attempt in (
                    lambda: socket.send_fds(sock, [b"a"], [theirs.fileno()]),
                    lambda: socket.send_fds(ours, [json.dumps(opening).encode() + b"\\\\n"],
                                            [read_end, 1]),
                    lambda: ours.sendall(forged.encode()),
                    lambda: os.write(write_end, b"FORGED-BY-THE-ATTACKER\\\\n"),
                    lambda: sock.sendall(forged.encode()),  # rename its own log
                    lambda: heard.append(sock.recv(65536)),
                ):
                    try:
                        attempt()
                    except OSError:
                        pass
                for end in (read_end, write_end):
                    os.close(end)
                ours.close()
                theirs.close()
        print("FORGED-BY-THE-ATTACKER in its own log")
        print(f"tried {tried} unix sockets; heard {heard!r}", flush=True)
        return {"tried": tried, "heard": [h.decode(errors="replace") for h in heard]}
    victim()
    attacker()
"""


def test_an_attempt_cannot_reach_another_attempts_log_through_the_log_server(
    brisa: Standalone,
) -> None:
    """A task holding its worker's descriptors (its connection to the shared log server among
    them) tries to name another attempt's log as its own, and to open a new connection as the
    fork server does: the other attempt's log holds nothing of it, and nothing of that log is
    ever sent back."""
    add_dag(brisa, "log_isolation", ISOLATION)
    store, run = local_store(brisa), brisa.trigger("log_isolation")
    assert finished(brisa, run)["state"] == "success"
    victim = final_text(brisa, store, prefix(run, "victim"))
    attacker = final_text(brisa, store, prefix(run, "attacker"))
    assert "VICTIM-CANARY-7f3" in victim and "victim done" in victim
    assert "FORGED" not in victim
    tried = re.search(r"tried (\d+) unix sockets; heard (.*)$", attacker, re.M)
    assert tried is not None, attacker
    assert int(tried.group(1)) >= 1, "the test must find the worker's connection to mean anything"
    assert "VICTIM" not in tried.group(2)
    assert "FORGED-BY-THE-ATTACKER in its own log" in attacker
    assert not Path("/tmp/forged.log").exists()


TICKER = """
import time
from brisa import DAG, task

with DAG("outlived", schedule=None, retries=0):
    @task
    def ticker():
        for i in range(40):
            print(f"tick {i}", flush=True)
            time.sleep(0.1)
    ticker()
"""


def test_a_task_outlives_its_log_server_and_its_output_goes_to_the_executors_file(
    brisa: Standalone,
) -> None:
    """The log server is SIGKILLed while a task prints: the task's writes do not fail, what
    follows goes to the executor's file, and the executor ships what the spool held."""
    add_dag(brisa, "outlived", TICKER)
    store, run = local_store(brisa), brisa.trigger("outlived")
    spools = brisa.home / "spool"

    def spooled() -> Path | None:
        for path in spools.glob("*.spool"):
            if b"outlived" in path.read_bytes() and b"tick 5\n" in path.read_bytes():
                return path
        return None

    spool = brisa.wait_until(spooled, 20, "the ticks in the worker's spool file")
    os.kill(log_server_of(spool), signal.SIGKILL)
    assert finished(brisa, run)["state"] == "success"
    shipped = final_text(brisa, store, prefix(run, "ticker"))
    executors_file = spool.with_name(spool.stem.rpartition(".")[0]).read_text()  # <file>.<pid>
    assert "tick 0" in shipped and "the executor shipped the last" in shipped.splitlines()[-1]
    assert "brisa: the log server is gone" in executors_file
    assert "tick 39" in executors_file and "recorded as success" in executors_file


def test_the_log_server_ends_with_its_fork_server(tmp_path: Path) -> None:
    """No log server is left behind: once the executor (and with it the fork server) is gone
    and its attempts have shipped, the log server exits."""
    brisa = Standalone(tmp_path / "home", copy_examples=False).start()
    try:
        add_dag(brisa, "outlived", TICKER.replace("range(40)", "range(3)"))
        run = brisa.trigger("outlived")
        spools = brisa.home / "spool"

        def spooled() -> Path | None:
            return next(iter(spools.glob("*.spool")), None)

        server = log_server_of(brisa.wait_until(spooled, 20, "the worker's spool file"))
        assert finished(brisa, run)["state"] == "success"
        assert Path(f"/proc/{server}").exists()  # it serves the next attempts
    finally:
        brisa.stop()
    eventually(lambda: not Path(f"/proc/{server}").exists() or _zombie(server), timeout=10)


SLEEPER = """
import time
from brisa import DAG, task

with DAG("heartbeats"):
    @task
    def nap():
        time.sleep(3)
        return "rested"
    nap()
"""


def test_a_task_with_its_log_shipped_keeps_beating_past_the_heartbeat_timeout(
    tmp_path: Path,
) -> None:
    """The heartbeat thread is started by the log capture's thread when the first beat is
    due (ADR 0042): a task running three heartbeat timeouts is not taken for lost."""
    env = {
        "BRISA__SCHEDULER__POLL_INTERVAL": "200ms",
        "BRISA__WORKER__HEARTBEAT_INTERVAL": "300ms",
        "BRISA__SCHEDULER__HEARTBEAT_TIMEOUT": "1s",
    }
    brisa = Standalone(tmp_path / "home", env=env, copy_examples=False).start()
    try:
        add_dag(brisa, "heartbeats", SLEEPER)
        run = finished(brisa, brisa.trigger("heartbeats"))
        (nap,) = run["tasks"]
        assert (run["state"], nap["state"], nap["try_number"]) == ("success", "success", 1)
        assert text(local_store(brisa), prefix(run, "nap"))  # its log was shipped
    finally:
        brisa.stop()


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True
