"""The API's edge against a real standalone (SQLite and PostgreSQL): what a web page in the
user's browser can make it do, how large a body it reads, inputs that used to end in a 500,
and the OpenAPI document that describes all of it."""

from __future__ import annotations

import json
import select
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import BACKENDS, new_database
from support.attempts import Attempt, capture_tokens, captured
from support.standalone import Standalone

RETURN_LIMIT = 100_000  # [core] max_return_value_bytes of the standalone below
DAGS = {
    "waiter.py": """
from datetime import datetime
from brisa import DAG, shell
with DAG("waiter", schedule=None, start_date=datetime(2026, 1, 1)):
    shell("wait", "sleep 60")
""",
    "big.py": f"""
from datetime import datetime
from brisa import DAG, task
with DAG("big", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def big():
        return "x" * {RETURN_LIMIT + 1}
    @task
    def small():
        print("a line of log")
        return "x" * {RETURN_LIMIT - 10}
    big()
    small()
""",
}
RUNS = "/api/v1/teams/default/dags/waiter/runs"
JSON = {"Content-Type": "application/json"}


class Lab:
    def __init__(self, server: Standalone, tokens: Path) -> None:
        self.server = server
        self.tokens = tokens
        self.attempt: Attempt | None = None


@pytest.fixture(scope="module", params=BACKENDS)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("edge")
    dags = root / "dags"
    dags.mkdir()
    for name, source in DAGS.items():
        (dags / name).write_text(source)
    with new_database(request.param, root) as url:
        env = {
            **capture_tokens(root / "tokens"),
            "BRISA__DATABASE__URL": url,
            "BRISA__CORE__MAX_RETURN_VALUE_BYTES": str(RETURN_LIMIT),
        }
        server = Standalone(root / "home", dags=dags, env=env, copy_examples=False).start()
        try:
            server.wait_for_dag("waiter")
            server.wait_for_dag("big")
            yield Lab(server, root / "tokens")
        finally:
            for run in server.get(RUNS)["runs"]:
                if run["state"] not in ("success", "failed", "cancelled"):
                    server.post(f"{RUNS}/{urllib.parse.quote(run['run_id'], safe='')}/cancel")
            server.stop()


def call(
    lab: Lab,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    request = urllib.request.Request(
        lab.server.url + path, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
            return response.status, json.loads(payload) if payload else None
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload)
        except ValueError:
            return exc.code, payload.decode(errors="replace")


def run_count(lab: Lab) -> int:
    return len(lab.server.get(RUNS)["runs"])


def running_attempt(lab: Lab) -> Attempt:
    """A running attempt of `waiter` and its worker's token."""
    if lab.attempt is None:
        run = lab.server.trigger("waiter")
        quoted = urllib.parse.quote(run["run_id"], safe="")
        task = f"{RUNS}/{quoted}/tasks/wait"
        lab.server.wait_until(lambda: lab.server.get(task)["state"] == "running", 20, "running")
        lab.attempt = captured(lab.tokens)[0]
    return lab.attempt


# --- requests a web page can make ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(None, {}, id="no body"),
        pytest.param(b"conf=1", {"Content-Type": "application/x-www-form-urlencoded"}, id="form"),
        pytest.param(b"{}", {"Content-Type": "text/plain"}, id="text"),
        pytest.param(b"{}", {}, id="JSON sent as a form (urllib's default type)"),
    ],
)
def test_a_web_page_cannot_trigger_a_run(
    lab: Lab, body: bytes | None, headers: dict[str, str]
) -> None:
    before = run_count(lab)
    status, answer = call(lab, "POST", RUNS, body, headers)
    assert status == 415, answer
    assert "Content-Type: application/json" in answer["detail"]
    assert run_count(lab) == before


def test_json_requests_are_served(lab: Lab) -> None:
    status, run = call(lab, "POST", RUNS, None, JSON)
    assert status == 201 and run["state"] == "queued"
    typed = {"Content-Type": "application/json; charset=utf-8"}
    status, run = call(lab, "POST", f"{RUNS}/{run['run_id']}/cancel", b"{}", typed)
    assert status == 200 and run["state"] == "cancelled"


def test_only_the_configured_host_names_are_answered(lab: Lab) -> None:
    port = lab.server.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert call(lab, "GET", "/api/v1/dags", None, {"Host": host})[0] == 200, host
    for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.nip.io:{port}"):
        status, answer = call(lab, "GET", "/api/v1/dags", None, {"Host": host})
        assert status == 421, (host, answer)
        assert "[api] allowed_hosts" in answer["detail"]
    # Probes name the pod's address, and a worker's token is its credential.
    assert call(lab, "GET", "/api/v1/health", None, {"Host": "10.1.2.3:8080"})[0] == 200


# --- body sizes ------------------------------------------------------------------------------


def read_all(conn: socket.socket) -> bytes:
    """What the server sent until it closed the connection."""
    answer = b""
    try:
        while block := conn.recv(4096):
            answer += block
    except ConnectionResetError:  # it closed with our unread bytes in its buffer
        pass
    return answer


def declared(lab: Lab, path: str, size: int, headers: dict[str, str]) -> tuple[int, str]:
    """The answer to a POST that declares a `size`-byte body and sends none of it."""
    with socket.create_connection(("127.0.0.1", lab.server.port), timeout=10) as conn:
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{lab.server.port}",
                 f"Content-Length: {size}", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = read_all(conn)
    return int(answer.split()[1]), answer.decode(errors="replace")


def test_a_declared_oversized_body_is_refused_before_it_is_read(lab: Lab) -> None:
    status, answer = declared(lab, RUNS, 200 << 20, JSON)
    assert status == 413 and "[api] max_body_bytes" in answer, answer
    attempt = running_attempt(lab)
    finish = attempt.path + "/finish"
    auth = {**JSON, "Authorization": f"Bearer {attempt.token}"}
    assert declared(lab, finish, (1 << 20) + RETURN_LIMIT + 1, auth)[0] == 413


def test_a_chunked_oversized_body_is_refused_while_it_streams(lab: Lab) -> None:
    """The answer comes once the limit (1 MiB) is passed, while the client is still sending:
    the server does not wait for (or hold) the whole body."""
    chunk = b"x" * (64 << 10)
    sent = 0
    with socket.create_connection(("127.0.0.1", lab.server.port), timeout=10) as conn:
        head = [f"POST {RUNS} HTTP/1.1", f"Host: 127.0.0.1:{lab.server.port}",
                "Content-Type: application/json", "Transfer-Encoding: chunked"]  # fmt: skip
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while sent < 64 << 20 and not select.select([conn], [], [], 0)[0]:
            try:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server answered and closed: its answer is waiting
                break
            sent += len(chunk)
        answer = conn.recv(4096)
    assert answer.split()[1] == b"413", answer[:200]
    assert sent < 8 << 20, f"the server let {sent} bytes in before answering"


def test_the_worker_refuses_to_send_a_return_value_over_the_limit(lab: Lab) -> None:
    run = lab.server.trigger("big")
    done = lab.server.wait_for_run("big", run["run_id"])
    tasks = {t["task_id"]: t for t in done["tasks"]}
    assert tasks["small"]["state"] == "success"
    assert tasks["big"]["state"] == "failed"
    error = tasks["big"]["error"]
    assert f"over the limit of {RETURN_LIMIT} bytes" in error, error
    assert "[core] max_return_value_bytes" in error, error


# --- inputs that used to end in a 500 --------------------------------------------------------


def test_a_run_list_offset_out_of_the_databases_range(lab: Lab) -> None:
    assert call(lab, "GET", f"{RUNS}?offset={2**63 - 1}")[1] == {"runs": []}
    status, answer = call(lab, "GET", f"{RUNS}?offset={2**63}")
    assert status == 400 and "offset" in answer["detail"], answer


def test_a_log_offset_out_of_the_file_systems_range(lab: Lab) -> None:
    run = lab.server.trigger("big")
    lab.server.wait_for_run("big", run["run_id"])
    logs = f"/api/v1/teams/default/dags/big/runs/{run['run_id']}/tasks/small/logs"
    lab.server.wait_until(lambda: call(lab, "GET", logs)[1]["finished"], 10, "the whole log")
    page = call(lab, "GET", f"{logs}?offset={2**40}")[1]
    assert page["content"] == "" and page["finished"], page
    for offset in (2**44, 2**63):
        status, answer = call(lab, "GET", f"{logs}?offset={offset}")
        assert status == 400 and "offset" in answer["detail"], (offset, answer)
    status, answer = call(lab, "GET", f"{logs}/stream", None, {"Last-Event-ID": str(2**63)})
    assert status == 400, answer


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_return_value_that_is_not_json(lab: Lab, constant: str) -> None:
    attempt = running_attempt(lab)
    auth = {**JSON, "Authorization": f"Bearer {attempt.token}"}
    body = f'{{"state": "success", "return_value": [1, {constant}]}}'.encode()
    status, answer = call(lab, "POST", attempt.path + "/finish", body, auth)
    assert status == 400 and constant.lstrip("-") in answer["detail"], answer
    assert call(lab, "POST", attempt.path + "/heartbeat", b"{}", auth)[0] == 204


def test_error_messages_do_not_quote_a_huge_input(lab: Lab) -> None:
    huge = "y" * 500_000
    for body in ({huge: 1}, {"run_id": huge}, {"conf": {huge: 1}}, {"conf": huge}):
        status, answer = call(lab, "POST", RUNS, json.dumps(body).encode(), JSON)
        assert status == 400, answer
        assert 0 < len(answer["detail"]) <= 1200, answer["detail"][:300]
    status, answer = call(
        lab, "GET", f"{RUNS}/x/tasks/wait/logs/stream", None, {"Last-Event-ID": "z" * 5000}
    )
    assert status in (400, 404) and len(answer["detail"]) <= 1200


# --- the OpenAPI document --------------------------------------------------------------------

HEALTH_PATHS = ("/api/v1/health", "/health/live", "/health/ready")


def test_the_openapi_document_describes_every_answer(lab: Lab) -> None:
    doc = lab.server.get("/api/v1/openapi.json")
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    report = {"application/json": {"schema": {"$ref": "#/components/schemas/HealthReport"}}}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            answers = operation["responses"]
            assert "422" not in answers, where
            success = [code for code in answers if code.startswith("2")]
            assert len(success) == 1, where
            if success[0] != "204":
                content = answers[success[0]]["content"]
                kind, described = next(iter(content.items()))
                schema = described["schema"]
                if kind == "application/json":
                    assert schema.get("$ref") or schema.get("type") == "object", where
                else:  # a stream of events, or a file as stored (a log): described by its type
                    assert schema.get("type") in ("object", "string"), where
            errors = [code for code in answers if not code.startswith("2")]
            assert errors, where
            for code in errors:
                # A failing health check answers 503 with its report: the checks and their results.
                expected = report if path in HEALTH_PATHS and code == "503" else error
                assert answers[code]["content"] == expected, (where, code)
            if method in ("post", "patch"):
                assert {"413", "415"} <= set(answers), where
    assert "HTTPValidationError" not in doc["components"]["schemas"]
