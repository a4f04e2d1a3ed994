"""The main process's CPU per worker call of the execution API (issue 14), in one process.

The API application the standalone serves (`System.api_app()`: the store on a SQLite file,
the change feed's thread, every middleware), a DAG of shell tasks published as the DAG
folder's processor publishes it, one run; then for each attempt, one after another: the
task queued with a new token as the scheduler queues it (not measured), the worker's
`start` and `finish` (measured, each by `time.process_time` of this process).

Modes:
- `asgi`: each call sent to the application as ASGI messages on uvloop (the path, headers
  and body a worker sends), so everything from the outermost middleware in is counted;
- `queue`: as `asgi`, but after the warm-up the tasks are queued and no call is made: what
  `asgi` costs beyond it is the calls' (for instruction counts, where a run is measured as
  a whole: `valgrind --tool=callgrind` of both, the difference over `count`);
- `http`: the application served by uvicorn in this process as `web/server.py` serves it
  (httptools, uvloop), a client in another process making each attempt's two calls on one
  new kept-alive connection, as a worker does; this process's CPU (the server, the feed's
  thread) over the whole series, per attempt.

    python -m bench.apicalls asgi 400 [--profile FILE]
    python -m bench.apicalls http 400

Prints one JSON line: CPU per start, per finish and per attempt (ms, medians of the calls
in `asgi`), the statements and commits per attempt, the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

WARM = 20  # attempts before the measured ones
TEAM = "bench"

_CLIENT = r"""
import json, socket, sys
port, tokens = int(sys.argv[1]), json.load(open(sys.argv[2]))
def call(sock, path, token, body):
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(data)}"
            f"\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\r\n")
    sock.sendall(head.encode("latin-1") + data)
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    head, _, rest = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
                 .split(b":")[1])
    while len(rest) < length:
        rest += sock.recv(65536)
for i, (ti, tr, token) in enumerate(tokens):
    if i == WARM:
        sys.stdout.write("warm\n"); sys.stdout.flush(); sys.stdin.readline()
    base = f"/execution/v1/attempts/{ti}/{tr}"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        call(sock, base + "/start", token, {"hostname": "bench", "pid": 4242})
        call(sock, base + "/finish", token, {"state": "success", "return_value": None})
"""


class Bench:
    """The standalone's API application over a fresh home, and a run of `count` tasks."""

    def __init__(self, home: Path, count: int) -> None:
        from brisa import DAG, shell
        from brisa.authoring.serialize import serialize
        from brisa.settings import load
        from brisa.system import System

        (home / "dags").mkdir(parents=True)
        environ = {
            "BRISA__DAGS__FOLDER": str(home / "dags"),
            "BRISA__DAGS__TEAM": TEAM,
            "BRISA__POOLS__DEFAULT_SLOTS": str(count + 1),  # the http mode queues them all
        }
        self.system = System.create(load(home, environ=environ))
        self.app = self.system.api_app()
        self.store = self.system.store
        now = datetime.now(UTC)
        with DAG("fan") as dag:
            for i in range(count):
                shell(f"t{i}", "true")
        spec = serialize(dag, "fan.py")
        version = self.store.publish_dag(TEAM, spec, fileloc="fan.py", code_version="c1", now=now)
        self.run = self.store.create_run(
            team=TEAM,
            dag_id="fan",
            version_id=version,
            run_id="manual__bench",
            run_type="manual",
            logical_date=now,
            interval=(now - timedelta(days=1), now),
            conf={},
            task_ids=[f"t{i}" for i in range(count)],
            now=now,
            code_version="c1",
        )
        # No stream follows: the change feed's thread (a poll a second) is stopped, so that
        # nothing but the calls runs while they are measured (instruction counts repeat).
        self.app.state.ctx.feed.close()
        tasks = self.store.get_run_by_pk(self.run.id).tasks
        self.tasks = [tasks[f"t{i}"] for i in range(count)]
        self.statements = 0
        self.commits = 0
        self.queue_only = False

        def sent(*_args: object) -> None:
            self.statements += 1

        def committed(*_args: object) -> None:
            self.commits += 1

        event.listen(self.store.engine, "before_cursor_execute", sent)
        event.listen(self.store.engine, "commit", committed)

    def queue(self, index: int) -> tuple[Any, str]:
        """Task `index` queued with a new token, as the scheduler queues it."""
        from brisa.core import tokens
        from brisa.core.records import AttemptRef

        ti = self.tasks[index]
        ref = AttemptRef(ti.id, ti.try_number + 1)
        issued = tokens.issue(ref)
        assert self.store.queue_task(
            ti.id,
            expected=ti.state,
            try_number=ti.try_number,
            now=datetime.now(UTC),
            token_digest=issued.digest,
        )
        return ref, issued.token

    def close(self) -> None:
        self.system.shutdown()


def _scope(port: int, path: str, token: str, length: int) -> dict[str, Any]:
    headers = [
        (b"host", f"127.0.0.1:{port}".encode()),
        (b"content-length", str(length).encode()),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", port),
        "state": {},
    }


async def _call(app: Any, path: str, token: str, body: dict[str, Any]) -> int:
    data = json.dumps(body).encode()
    scope = _scope(8080, path, token, len(data))
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return int(status)


async def _asgi(bench: Bench, count: int, profile: cProfile.Profile | None) -> dict[str, Any]:
    starts: list[float] = []
    finishes: list[float] = []
    clock = time.process_time
    statements = commits = 0
    for index in range(count):
        ref, token = bench.queue(index)
        base = f"/execution/v1/attempts/{ref.ti_id}/{ref.try_number}"
        if index >= WARM and bench.queue_only:
            continue
        if index >= WARM and profile is not None:
            profile.enable()
        counted = bench.statements, bench.commits
        t0 = clock()
        assert await _call(bench.app, base + "/start", token, {"hostname": "b", "pid": 4242}) == 200
        t1 = clock()
        done = {"state": "success", "return_value": None}
        assert await _call(bench.app, base + "/finish", token, done) == 200
        t2 = clock()
        if profile is not None:
            profile.disable()
        if index >= WARM:
            starts.append(t1 - t0)
            finishes.append(t2 - t1)
            statements += bench.statements - counted[0]
            commits += bench.commits - counted[1]
    measured = count - WARM
    if bench.queue_only:
        return {}
    return {
        "start_ms": round(statistics.median(starts) * 1e3, 4),
        "finish_ms": round(statistics.median(finishes) * 1e3, 4),
        "attempt_ms": round((sum(starts) + sum(finishes)) / measured * 1e3, 4),
        "statements": round(statements / measured, 2),
        "commits": round(commits / measured, 2),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(bench: Bench, count: int, home: Path, profile: cProfile.Profile | None) -> dict[str, Any]:
    import uvicorn

    from brisa.web.server import wire

    refs = [bench.queue(index) for index in range(count)]
    listed = [(ref.ti_id, ref.try_number, token) for ref, token in refs]
    (home / "tokens.json").write_text(json.dumps(listed))
    port = _free_port()
    http, loop = wire()
    config = uvicorn.Config(
        bench.app, host="127.0.0.1", port=port, http=http, loop=loop, log_level="warning",
        log_config=None, access_log=False, timeout_keep_alive=15,
    )  # fmt: skip
    server = uvicorn.Server(config)

    def serve() -> None:  # profiled: the server's thread, warm-up included
        if profile is not None:
            profile.enable()
        server.run()
        if profile is not None:
            profile.disable()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    script = _CLIENT.replace("WARM", str(WARM))
    client = subprocess.Popen(
        [sys.executable, "-c", script, str(port), str(home / "tokens.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None and client.stdin is not None
    assert client.stdout.readline().strip() == "warm"
    bench.statements = bench.commits = 0
    before = time.process_time()
    client.stdin.write("go\n")
    client.stdin.flush()
    assert client.wait(600) == 0
    spent = time.process_time() - before
    server.should_exit = True
    thread.join(10)
    measured = count - WARM
    return {
        "attempt_ms": round(spent / measured * 1e3, 4),
        "statements": round(bench.statements / measured, 2),
        "commits": round(bench.commits / measured, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("asgi", "http", "queue"))
    parser.add_argument("count", type=int, nargs="?", default=400)
    parser.add_argument(
        "--profile", help="cProfile's stats of the calls (http: the server's thread)"
    )
    args = parser.parse_args()
    count = args.count + WARM
    with tempfile.TemporaryDirectory(prefix="apicalls-") as folder:
        bench = Bench(Path(folder), count)
        try:
            profile = cProfile.Profile() if args.profile else None
            if args.mode in ("asgi", "queue"):
                import uvloop

                bench.queue_only = args.mode == "queue"
                figures = uvloop.run(_asgi(bench, count, profile))
            else:
                figures = _http(bench, count, Path(folder), profile)
            if profile is not None:
                profile.dump_stats(args.profile)
        finally:
            bench.close()
    figures["load"] = round(os.getloadavg()[0], 2)
    figures["mode"] = args.mode
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
