"""API fuzzing: schemathesis against the OpenAPI document of a real running standalone.

Every operation is called with generated input (valid and invalid), half of the time with the
ids of real resources (a DAG, a run, a task, a running attempt with its worker's token), and
every answer is checked: no server error, a documented status, a documented content type, a
body that matches the documented schema. Bounded and derandomized: the same cases every run.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support.attempts import Attempt, capture_tokens, captured
from support.standalone import Standalone

EXAMPLES = 12  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DAGS = {
    "held.py": """
from datetime import datetime
from brisa import DAG, shell
with DAG("held", schedule=None, start_date=datetime(2026, 1, 1)):
    shell("wait", "sleep 30")
""",
    "quick.py": """
from datetime import datetime
from brisa import DAG, Param, task
with DAG("quick", schedule=None, start_date=datetime(2026, 1, 1),
         params={"n": Param(1, type="integer", minimum=0, maximum=10)}):
    @task
    def first():
        print("hello")
        return {"n": 1}
    @task
    def second(value):
        return value
    second(first())
""",
}


@dataclass(frozen=True)
class Real:
    """Ids of real resources, to put in the paths of generated requests."""

    runs: list[dict[str, str]]  # team, dag_id, run_id, task_id
    attempt: Attempt


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Standalone, Real]]:
    root = tmp_path_factory.mktemp("fuzz")
    dags = root / "dags"
    dags.mkdir()
    for name, source in DAGS.items():
        (dags / name).write_text(source)
    server = Standalone(
        root / "home", dags=dags, env=capture_tokens(root / "tokens"), copy_examples=False
    ).start()
    try:
        yield server, _real(server, root / "tokens")
    finally:
        for dag_id in DAGS:
            _cancel_all(server, dag_id.removesuffix(".py"))
        server.stop()


def _real(server: Standalone, tokens: Path) -> Real:
    server.wait_for_dag("held")
    server.wait_for_dag("quick")
    quick = server.trigger("quick")["run_id"]
    server.wait_for_run("quick", quick)
    held = server.trigger("held")["run_id"]
    task = f"{server.dag_path('held')}/runs/{urllib.parse.quote(held, safe='')}/tasks/wait"
    server.wait_until(lambda: server.get(task)["state"] == "running", 20, "held to run")
    runs = [
        {"team": "default", "dag_id": "quick", "run_id": quick, "task_id": "second"},
        {"team": "default", "dag_id": "held", "run_id": held, "task_id": "wait"},
    ]
    return Real(runs, captured(tokens)[0])


def _cancel_all(server: Standalone, dag_id: str) -> None:
    for run in server.get(f"{server.dag_path(dag_id)}/runs?limit=1000")["runs"]:
        if run["state"] in ("queued", "running"):
            quoted = urllib.parse.quote(run["run_id"], safe="")
            server.post(f"{server.dag_path(dag_id)}/runs/{quoted}/cancel")


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, real: Real) -> None:
    execution = operation.path.startswith("/execution/")
    # A running try's log stream lasts as long as the try: follow finished ones only.
    runs = real.runs[:1] if operation.path.endswith("/stream") else real.runs
    needs_type = operation.method.upper() in ("POST", "PATCH") and not operation.body

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode), which=st.integers(-1, len(runs) - 1))
    def check(case: Any, which: int) -> None:
        headers = {"Content-Type": "application/json"} if needs_type else {}
        if which >= 0:  # else: the generated ids as they are
            ids: dict[str, Any] = dict(runs[which])
            if execution:
                ids = {"ti_id": real.attempt.ti_id, "try_number": real.attempt.try_number}
                headers["Authorization"] = f"Bearer {real.attempt.token}"
            names = case.path_parameters or {}
            case.path_parameters = {**names, **{k: v for k, v in ids.items() if k in names}}
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()


def _edges(schema: dict[str, Any]) -> list[int]:
    """Integers at and past the documented range, and past what the databases hold."""
    values = {0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1}
    for key, step in (("minimum", -1), ("maximum", 1)):
        if key in schema:
            values |= {schema[key], schema[key] + step}
    return sorted(values)


def _sweep(operation: Any, base_url: str, real: Real) -> list[str]:
    """Every integer parameter (query or path) at its edges, the others left out or real."""
    execution = operation.path.startswith("/execution/")
    ids: dict[str, Any] = dict(real.runs[0])
    headers = {"Content-Type": "application/json"} if operation.method.upper() != "GET" else {}
    if execution:
        ids = {"ti_id": real.attempt.ti_id, "try_number": real.attempt.try_number}
        headers["Authorization"] = f"Bearer {real.attempt.token}"
    path = {p.name: ids.get(p.name, "x") for p in operation.path_parameters}
    failures = []
    for location, parameters in (("query", operation.query), ("path", operation.path_parameters)):
        for parameter in parameters:
            schema = parameter.definition.get("schema", {})
            if schema.get("type") != "integer":
                continue
            for value in _edges(schema):
                where = {location: {parameter.name: value}}
                if location == "path":
                    case = operation.Case(path_parameters={**path, parameter.name: value})
                else:
                    case = operation.Case(path_parameters=path, query={parameter.name: value})
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except (Exception, FailureGroup) as exc:  # noqa: BLE001 - collected, reported below
                    failures.append(f"{operation.method.upper()} {operation.path} {where}: {exc}")
    return failures


def _modes(operation: Any) -> list[GenerationMode]:
    """Valid input, and invalid input where some can be made: not of an operation whose only
    input is free-form strings in its path."""
    typed = any(
        p.definition.get("schema", {}).get("type") != "string" for p in operation.path_parameters
    )
    if operation.body or len(operation.query) or len(operation.headers) or typed:
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def test_fuzzing_every_operation_finds_no_error(system: tuple[Standalone, Real]) -> None:
    server, real = system
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        failures += _sweep(operation, server.url, real)
        for mode in _modes(operation):
            try:
                _fuzz(operation, mode, server.url, real)
            except Unsatisfiable:  # no invalid input for it: only free-form strings
                continue
            except (Exception, FailureGroup) as exc:  # noqa: BLE001 - collected, reported below
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert failures == [], "\n\n".join(failures)
