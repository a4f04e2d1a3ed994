"""`brisa task run`: the one code path of every attempt, whatever the executor.

It holds no database credentials: it talks to the execution API (worker.client) with a token
valid for this attempt only, and reads what the executor handed it from its environment
(worker.env, the wire format). Start-up time is a product feature, so this module imports no
web framework, no ORM and no CLI library (import-linter checks it).

The task runs the code of the commit its run is pinned to, put in place first (local
snapshot, tarball, or a fetch by SHA: repos.materialise) and held with a lease until the
attempt ends; a commit that cannot be found fails the attempt, saying what was tried.

From its first line, everything the attempt writes (the worker's own lines, prints, C-level
writes, child processes) is captured, masked, stamped and shipped to the object store in
chunks (logs.shipping). The task's error and return value are masked with the same secrets
before they are reported (logs.masking): no secret the worker knows leaves it in clear. The
outcome is reported to the API before the log's last chunk and `full.log` are shipped, so a
log outage can never change it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brisa.authoring.context import TaskContext
from brisa.authoring.loader import load_file
from brisa.core.records import CodeRef, WorkItem
from brisa.core.spec import ContainerRun, ShellCommand
from brisa.errors import BrisaError
from brisa.logs.capture import utc_stamp
from brisa.logs.masking import Masker, env_secrets, param_secrets
from brisa.logs.shipping import LogShipper
from brisa.worker import containment, oomwatch, warmed
from brisa.worker.client import AttemptStale, ExecutionClient, exchange_pod_token
from brisa.worker.env import (
    POD_TOKEN_FILE,
    TOKEN_FD,
    WorkerEnv,
    log_server,
    private,
    receive_token,
    worker_env,
)
from brisa.worker.heartbeat import Heartbeat
from brisa.worker.prebuilt import (
    Prebuilt,
    config_lines,
    prebuilt_for,
    worker_secrets,
)
from brisa.worker.runner import Outcome, run_python, run_shell, shell_env

if TYPE_CHECKING:
    from brisa.repos.materialise import Materialised

EXIT_SHIP_TIMEOUT = 60.0  # at most this long (and [worker] report_timeout) to ship at the end
SIGTERM_SHIP_TIMEOUT = 2.0  # within the executor's kill grace (SIGKILL follows)


class _Lines:
    """How the worker's own lines are written: stamped by the log capture while it runs
    (`shipping`: the log being shipped)."""

    captured = False
    shipping: LogShipper | None = None


def _log(*messages: str) -> None:
    """Print the worker's own lines, `brisa: ` first, in one write."""
    stamp = "" if _Lines.captured else utc_stamp(time.time()) + " "
    print("\n".join(f"{stamp}brisa: {message}" for message in messages), flush=True)


def _context(item: WorkItem) -> TaskContext:
    return TaskContext(
        team=item.team,
        dag_id=item.dag_id,
        task_id=item.task_id,
        run_id=item.run_id,
        try_number=item.try_number,
        logical_date=item.logical_date,
        data_interval_start=item.data_interval_start,
        data_interval_end=item.data_interval_end,
        params=item.params,
        code_version=item.code_version or None,
    )


def container_refused(task_id: str) -> str:
    return (
        f"task {task_id} is a container task: it runs only under the Kubernetes executor "
        '([executor] kind = "kubernetes"); this deployment\'s executor runs Python and shell '
        "tasks"
    )


def execute(item: WorkItem, dags_folder: Path) -> Outcome:
    """Run the task described by a work item (from the execution API's start call)."""
    try:
        return _execute(item, dags_folder)
    except Exception as exc:  # noqa: BLE001 - a failure of the attempt, reported as such
        traceback.print_exc()
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")


def _execute(item: WorkItem, dags_folder: Path) -> Outcome:
    body, ctx = item.task.body, _context(item)
    if isinstance(body, ContainerRun):  # the one place: every executor but Kubernetes'
        return Outcome(False, error=container_refused(item.task_id))
    if isinstance(body, ShellCommand):
        return run_shell(body, ctx, dags_folder)
    dags = warmed.dags_for(item, dags_folder)  # imported before the fork ([executor] warm_imports)
    if dags is None:
        dags, error = load_file(dags_folder / item.fileloc, dags_folder)
        if error is not None:
            print(error.traceback, file=sys.stderr)
            return Outcome(False, error=f"cannot import {error.filename}: {error.message}")
    dag = next((d for d in dags if d.dag_id == item.dag_id), None)
    found = dag.tasks.get(item.task_id) if dag else None
    fn = getattr(found, "fn", None)
    if fn is None:
        return Outcome(
            False,
            error=f"task {item.task_id} is no longer a Python task of "
            f"DAG {item.dag_id} in {item.fileloc}",
        )
    return run_python(fn, body, ctx, item.upstream_values)


def _code_root(item: WorkItem, config: WorkerEnv) -> tuple[Path, Materialised | None]:
    """The DAG root of the attempt's code and, for a pinned commit, the lease holding it."""
    code = item.code
    if not code.sha and not code.path:
        return Path(config.dags_folder), None  # an API that sends no "code"
    held = put_in_place(code, config)
    if code.sha:
        _log(f"code: repo {code.repo} commit {code.sha[:7]} from {held.source} ({held.root})")
    return held.root, held


def put_in_place(code: CodeRef, config: WorkerEnv) -> Materialised:
    """The code of `code` on this machine, leased, from where `config` says to look."""
    from brisa.repos.materialise import LazyObjectStore, materialise

    location = config.logs.location
    return materialise(
        code,
        repos_root=Path(config.repos_root) if config.repos_root else None,
        cache_root=Path(config.code_cache) if config.code_cache else None,
        objects=LazyObjectStore(location, config.logs.store_options) if location else None,
        timeout=config.code_timeout,
    )


def _run_task(item: WorkItem, config: WorkerEnv) -> tuple[Outcome, Materialised | None]:
    """Put the attempt's pinned code in place, then run the task from it (as the task user,
    when the executor names one)."""
    try:
        root, held = _code_root(item, config)
    except BrisaError as exc:  # e.g. the commit is gone: the attempt fails, saying why
        return Outcome(False, error=str(exc)), None
    except Exception as exc:  # noqa: BLE001 - a failure of the attempt, reported as such
        traceback.print_exc()
        error = f"cannot put the code in place: {type(exc).__name__}: {exc}"
        return Outcome(False, error=error), None
    if config.run_as_user:
        # What running the task imports is imported at the top of this module, before the
        # switch: Brisa's own code may be readable by Brisa's user only (a private install).
        from brisa.worker import runas

        try:
            runas.become(runas.lookup(config.run_as_user))
        except (KeyError, OSError) as exc:  # never run the task as Brisa's own user instead
            return Outcome(False, error=f"cannot run as user {config.run_as_user}: {exc}"), held
    return execute(item, root), held


def _task_secrets(item: WorkItem, pattern: str) -> list[str]:
    """The attempt's own secrets: its secret params, and its shell `env` named like secrets."""
    found = param_secrets(item.params, item.secret_params)
    if isinstance(item.task.body, ShellCommand):
        # A bad template fails the task, saying so, before anything runs.
        with contextlib.suppress(BrisaError):
            found += env_secrets(shell_env(item.task.body, _context(item)), pattern)
    return found


def _masked(outcome: Outcome, secrets: list[str]) -> Outcome:
    """The outcome as it may leave the worker: error and return value masked with `secrets`.
    Without either (a task returning None) there is nothing to mask, and no masker is built:
    its pattern, compiled anew for each attempt (the token is a secret), is most of what a
    no-op's outcome would cost."""
    if outcome.return_value is None and not outcome.error:
        return outcome
    masker = Masker(secrets)
    value = masker.mask_json(outcome.return_value)
    if json.dumps(value) != json.dumps(outcome.return_value):
        _log("the return value holds secrets: it is recorded, and passed downstream, masked")
    error = masker.mask_text(outcome.error) if outcome.error else outcome.error
    return Outcome(outcome.success, value, error)


def _oom_named(outcome: Outcome, note: str | None) -> Outcome:
    """The OOM killer ended a process of the task: a failure says so first; a success stands,
    with a line in the log."""
    if note is None:
        return outcome
    if outcome.success:
        _log(f"{note}; the task succeeded nevertheless")
        return outcome
    return Outcome(False, outcome.return_value, f"{note}: {outcome.error or 'task failed'}")


def _bounded(outcome: Outcome, limit: int) -> Outcome:
    """A return value over the API's limit fails the attempt here, instead of being sent
    whole only to be refused."""
    if not outcome.success:
        return outcome
    size = len(json.dumps(outcome.return_value))  # as the API measures it (ASCII JSON)
    if size <= limit:
        return outcome
    return Outcome(
        False,
        error=f"return value is {size} bytes of JSON, over the limit of {limit} bytes "
        "([core] max_return_value_bytes); write large data to storage and return its path",
    )


def _ended(outcome: Outcome, elapsed: float) -> str:
    """The worker's last word on the task: state, duration, size of the return value."""
    state = "success" if outcome.success else "failed"
    line = f"task {state} in {elapsed:.3f}s"
    if outcome.success:
        size = len(json.dumps(outcome.return_value).encode())
        line += f"; return value {size} bytes of JSON"
    return line + (f": {outcome.error}" if outcome.error else "")


def _attempt(
    client: ExecutionClient,
    item: WorkItem,
    config: WorkerEnv,
    secrets: list[str],
    heartbeat: Heartbeat | None = None,
) -> int:
    """Run the started attempt and report its outcome. Exit code 0 on success.
    `heartbeat`: the one the log capture's thread was given, if it was."""
    _log(
        f"running {item.team}/{item.dag_id} {item.run_id} task {item.task_id} "
        f"try {item.try_number} (code version {item.code_version or 'local folder'})"
    )
    beat = heartbeat or Heartbeat(config.heartbeat_interval, _log)
    started = time.monotonic()
    beat.started(client, started)  # the first beat is due `heartbeat_interval` from now
    memory = oomwatch.watch(os.environ)  # in a pod: its container's cgroup (K5)
    outcome, held = _run_task(item, config)
    outcome = _oom_named(outcome, memory.note(outcome.exit_code) if memory else None)
    outcome = _masked(outcome, secrets)

    outcome = _bounded(outcome, config.max_return_value_bytes)
    beat.finishing.set()
    _log(_ended(outcome, time.monotonic() - started))
    state = "success" if outcome.success else "failed"
    body = {"state": state, "return_value": outcome.return_value, "error": outcome.error}
    try:
        result = client.call("finish", body, patience=config.report_timeout)
        _log(f"recorded as {result['state']}")
    except (AttemptStale, RuntimeError) as exc:
        _log(f"result not recorded: {exc}")
        return 3
    finally:
        beat.stop.set()
        if held is not None:
            held.release()  # the snapshot may be collected once no attempt uses it
    return 0 if outcome.success else 1


def run(
    ti_id: int,
    try_number: int,
    config: WorkerEnv,
    shipper: LogShipper | None = None,
    secrets: Iterable[str] = (),
    prebuilt: Prebuilt | None = None,
    client: ExecutionClient | None = None,
    heartbeat: Heartbeat | None = None,
) -> int:
    """Start the attempt, run it, report the outcome (masked with `secrets` and the attempt's
    own), then finish shipping its log. `prebuilt`: what a warm process built for `config`
    (its dump), if it did; `client`: the attempt's, if its start was sent ahead;
    `heartbeat`: the one the log capture's thread starts, if it does."""
    if client is None:
        client = ExecutionClient(config.api_url, config.token, ti_id, try_number)
    header = f"attempt {try_number} of task instance {ti_id}"
    if prebuilt is not None and _Lines.captured:
        print(f"brisa: {header}\n{prebuilt.dump_text}", flush=True)  # as `_log` writes it
    else:
        _log(header, *(prebuilt.dump if prebuilt else config_lines(config.redacted())))
    try:
        try:
            answer = client.call("start", _start_body(), patience=30)
        except (AttemptStale, RuntimeError) as exc:
            _log(f"cannot start: {exc}")
            return 3
        try:
            item = WorkItem.from_json(answer)
        except (KeyError, TypeError, ValueError) as exc:  # e.g. a task kind this worker lacks
            return _unreadable(client, config, f"{type(exc).__name__}: {exc}")
        own = _task_secrets(item, config.logs.mask_env_pattern)
        if shipper is not None:
            attempt = (item.team, item.dag_id, item.run_id, item.task_id, try_number)
            shipper.begin(attempt, own)
        return _attempt(client, item, config, [*secrets, *own], heartbeat)
    finally:
        if shipper is not None:
            _stop_shipping(shipper, min(EXIT_SHIP_TIMEOUT, config.report_timeout))


def _start_body() -> dict[str, Any]:
    return {"hostname": socket.gethostname(), "pid": os.getpid()}


def _unreadable(client: ExecutionClient, config: WorkerEnv, error: str) -> int:
    """Fail an attempt whose work item this worker cannot read (an older worker image)."""
    error = f"this worker cannot read its work item ({error}); is it older than the API?"
    _log(error)
    try:
        client.call("finish", {"state": "failed", "error": error}, patience=config.report_timeout)
    except (AttemptStale, RuntimeError) as exc:
        _log(f"result not recorded: {exc}")
        return 3
    return 1


def _start_shipping(
    config: WorkerEnv,
    secrets: list[str],
    server: socket.socket | None = None,
    heartbeat: Heartbeat | None = None,
) -> LogShipper | None:
    """Capture this process's output from now on, masked, for the object store: through the
    fork server's log server (`server`) when it handed one, else a log process of its own.
    The capture's thread starts `heartbeat`'s thread when its first beat is due."""
    if not config.logs.location:
        if server is not None:
            server.close()
        return None  # started by hand without a log store: output stays where it goes
    from brisa.logs.capture import spool_path

    try:
        path = spool_path(os.getpid())
        ticker = heartbeat.tick if heartbeat is not None else None
        shipper = LogShipper(config.logs, path, secrets, server=server, ticker=ticker).start()
    except OSError as exc:  # no process or pipe left: run the task all the same
        _log(f"log shipping not started ({exc}); the log stays in this file")
        return None
    _Lines.captured = True
    _Lines.shipping = shipper  # what a SIGTERM ships first (`_exit_contained`)
    return shipper


def _stop_shipping(shipper: LogShipper, timeout: float, grace: float = 2.0) -> None:
    _Lines.shipping = None  # a SIGTERM from now on exits at once
    shipper.close(timeout, grace)
    _Lines.captured = False


def _arguments(argv: list[str]) -> tuple[int, int]:
    """`--ti N --try N [--scope S]`, as every executor writes them: the task instance and try
    number. Read directly (building an argparse parser, or even its namespace, costs a
    forked worker pages copied); anything else goes to argparse, for its help and error
    messages."""
    if len(argv) in (4, 6) and argv[0::2] == ["--ti", "--try", "--scope"][: len(argv) // 2]:
        ti, try_number = argv[1], argv[3]
        if ti.isdigit() and try_number.isdigit():
            return int(ti), int(try_number)
    import argparse  # only here: not in the fork server's (and every warm process's) memory

    parser = argparse.ArgumentParser(
        prog="brisa task run", description="Run one task attempt (started by an executor)."
    )
    parser.add_argument("--ti", type=int, required=True, help="task instance id")
    parser.add_argument("--try", dest="try_number", type=int, required=True, help="try number")
    parser.add_argument("--scope", default="", help="the executor that started this worker")
    args = parser.parse_args(argv)
    return args.ti, args.try_number


def main(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """Run the attempt `argv` names. `environ`: `os.environ` as a plain dict, when the caller
    has it (a forked worker: `executor.local.forkserver.become_worker`)."""
    ti_id, try_number = _arguments(argv)
    environ = dict(os.environ) if environ is None else environ
    built = worker_env(environ)
    # The dump `prebuild` made shows a token as set: it is, once `_token` returns.
    prebuilt = prebuilt_for(built)
    try:
        config = built.with_token(_token(built, environ, ti_id, try_number))
    except (AttemptStale, RuntimeError, OSError) as exc:
        print(f"brisa task run: cannot get this attempt's execution token: {exc}", file=sys.stderr)
        return 3
    server = log_server(environ)
    # The token and the log store's keys are for this process only: user code and its
    # children never see them.
    for name in filter(private, environ):
        del os.environ[name]
    _record_self(config.registry, ti_id, try_number)
    secrets = worker_secrets(config, environ, prebuilt)
    # What the task detaches from this process group (setsid, a daemon) stays ours, and goes
    # with the attempt (worker.containment).
    containment.become_subreaper()
    signal.signal(signal.SIGTERM, _exit_contained)
    # The start call's request goes out now, its answer is read once the log capture is set
    # up: the API records the start while this process does that (ADR 0033).
    client = ExecutionClient(config.api_url, config.token, ti_id, try_number)
    client.send_ahead("start", _start_body())
    heartbeat = Heartbeat(config.heartbeat_interval, _log)
    try:
        shipper = _start_shipping(config, secrets, server, heartbeat)
        return run(ti_id, try_number, config, shipper, secrets, prebuilt, client, heartbeat)
    finally:
        containment.kill_descendants(os.getpid())


def _token(config: WorkerEnv, environ: dict[str, str], ti_id: int, try_number: int) -> str:
    """The execution token handed to this worker; in a pod, the one the execution API gives
    for the pod's projected service account token (ADR 0029)."""
    path = environ.get(POD_TOKEN_FILE, "")
    if not path or environ.get(TOKEN_FD):
        return receive_token(environ)
    with open(path, encoding="utf-8") as file:
        pod_token = file.read().strip()
    return exchange_pod_token(config.api_url, ti_id, try_number, pod_token)


def _exit_contained(signum: int, frame: object) -> None:
    """Stopped (SIGTERM) by the executor (timeout, cancel) or by ourselves (stale attempt):
    ship what was written before going, within the executor's kill grace, when the log is
    being shipped; kill what the attempt started; exit. The one SIGTERM handler, installed
    once: replacing a Python handler goes through `signal`'s enum conversion of the old
    one, a `ValueError` raised and caught, for each change (ADR 0033)."""
    shipper, _Lines.shipping = _Lines.shipping, None  # a second SIGTERM: exit at once
    if shipper is not None:
        os.write(1, b"brisa: the worker received SIGTERM; shipping its log and exiting\n")
        _stop_shipping(shipper, SIGTERM_SHIP_TIMEOUT, grace=0.5)
    containment.kill_descendants(os.getpid())
    os._exit(128 + signum)


def _record_self(folder: str, ti_id: int, try_number: int) -> None:
    """Enter this process in the executor's registry before telling the API it started: an
    executor restarted after a crash then always knows a worker that the API calls running,
    even one its killed predecessor launched but had no time to record."""
    if folder:
        from brisa.core.records import AttemptRef
        from brisa.worker.registry import record_worker

        record_worker(folder, AttemptRef(ti_id, try_number), os.getpid())
