"""`brisa dags test` runs a DAG in-process: trigger rules, values between tasks, templating."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from brisa import DAG, TriggerRule, get_current_context, shell, task
from brisa.authoring.context import TaskContext
from brisa.authoring.serialize import serialize
from brisa.cli.dagtest import Hooks, LocalRun, TaskResult, executor, run_dag, run_local
from brisa.core.spec import ShellCommand, TaskSpec
from brisa.core.states import TaskState
from brisa.errors import InvalidInput, NotFound
from brisa.worker.runner import Outcome

T = TaskState
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fake_clock() -> Callable[[], datetime]:
    """Each call is one second after the previous one."""
    ticks = iter(range(1_000_000))
    return lambda: START + timedelta(seconds=next(ticks))


def local_run(dag: DAG, params: dict[str, Any] | None = None) -> LocalRun:
    return LocalRun("team-a", dag.dag_id, "test__1", START, params or {})


def states(results: list[TaskResult]) -> dict[str, TaskState]:
    return {r.task_id: r.state for r in results}


def test_a_failure_is_reported_and_trigger_rules_decide_what_runs_after_it(
    tmp_path: Path,
) -> None:
    ran: list[str] = []
    with DAG("failing") as dag:

        @task
        def ok() -> int:
            ran.append("ok")
            return 1

        @task
        def boom(value: int) -> None:
            ran.append("boom")
            raise ValueError(f"cannot handle {value}")

        @task
        def after_boom() -> None:
            ran.append("after_boom")

        @task(trigger_rule=TriggerRule.ONE_FAILED)
        def alert() -> None:
            ran.append("alert")

        @task(trigger_rule=TriggerRule.ALL_DONE)
        def cleanup() -> None:
            ran.append("cleanup")

        @task(trigger_rule=TriggerRule.ONE_FAILED)
        def alert_on_ok() -> None:
            ran.append("alert_on_ok")

        first = ok()
        failed = boom(first)
        failed >> after_boom()
        failed >> alert()
        [first, failed] >> cleanup()
        first >> alert_on_ok()

    results = run_dag(
        serialize(dag, "failing.py"), local_run(dag), executor(dag, tmp_path), fake_clock()
    )

    assert states(results) == {
        "ok": T.SUCCESS,
        "boom": T.FAILED,
        "after_boom": T.UPSTREAM_FAILED,
        "alert": T.SUCCESS,
        "cleanup": T.SUCCESS,
        "alert_on_ok": T.SKIPPED,
    }
    assert sorted(ran) == ["alert", "boom", "cleanup", "ok"]
    by_id = {r.task_id: r for r in results}
    assert by_id["boom"].error == "ValueError: cannot handle 1"
    assert not by_id["boom"].ok and by_id["alert_on_ok"].ok
    # Tasks that did not run have no times; the others ran one after another.
    assert by_id["after_boom"].started_at is None
    assert by_id["ok"].ended_at <= by_id["boom"].started_at  # type: ignore[operator]


def test_return_values_flow_between_python_tasks_as_they_would_through_the_api(
    tmp_path: Path,
) -> None:
    with DAG("values", params={"factor": 2}) as dag:

        @task
        def extract() -> dict[str, Any]:
            return {"rows": (1, 2, 3), "source": get_current_context().run_id}

        @task
        def transform(data: dict[str, Any], context: TaskContext) -> list[int]:
            assert isinstance(data["rows"], list)  # a tuple comes back as JSON: a list
            return [x * context.params["factor"] for x in data["rows"]]

        @task
        def load(values: list[int], label: str) -> str:
            return f"{label}: {sum(values)}"

        load(transform(extract()), "total")

    results = run_dag(
        serialize(dag, "values.py"),
        local_run(dag, {"factor": 10}),
        executor(dag, tmp_path),
        fake_clock(),
    )

    values = {r.task_id: r.return_value for r in results}
    assert states(results) == {"extract": T.SUCCESS, "transform": T.SUCCESS, "load": T.SUCCESS}
    assert values == {
        "extract": {"rows": [1, 2, 3], "source": "test__1"},
        "transform": [10, 20, 30],
        "load": "total: 60",
    }


def test_hooks_see_every_start_and_end_in_order() -> None:
    with DAG("hooks") as dag:
        a, b = shell("a", "true"), shell("b", "false")
        c = shell("c", "true")
        a >> b >> c
    events: list[str] = []

    def fake(spec: TaskSpec, ctx: TaskContext, upstream: dict[str, Any]) -> Outcome:
        assert isinstance(spec.body, ShellCommand)
        return Outcome(spec.body.command == "true", return_value=ctx.task_id)

    hooks = Hooks(
        started=lambda tid, at: events.append(f"start {tid} {at:%S}"),
        finished=lambda r: events.append(f"end {r.task_id} {r.state}"),
    )
    run_dag(serialize(dag, "hooks.py"), local_run(dag), fake, fake_clock(), hooks)

    assert events == [
        "start a 00",
        "end a success",
        "start b 02",
        "end b failed",
        "end c upstream_failed",
    ]


def write_dag(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


SHELL_DAG = """
    from brisa import DAG, Param, shell

    with DAG("greet", params={"greeting": Param("hello", type="string"), "times": 2}):
        shell("say", "for i in $(seq {{ params.times | shquote }}); do"
                     " echo {{ params.greeting | shquote }}; done;"
                     " echo {{ params.greeting | shquote }} on {{ ds }} in {{ run_id }}")
"""


def test_shell_commands_are_templated_with_params_from_conf(tmp_path: Path) -> None:
    path = write_dag(tmp_path, "greet.py", SHELL_DAG)

    results = run_local(path, "greet", {"greeting": "hola"}, team="t", clock=fake_clock())

    assert [(r.task_id, r.state) for r in results] == [("say", T.SUCCESS)]
    assert results[0].return_value == "hola on 2026-03-01 in test__2026-03-01T12:00:00+00:00"


def test_conf_is_validated_against_the_params(tmp_path: Path) -> None:
    write_dag(tmp_path, "greet.py", SHELL_DAG)

    with pytest.raises(InvalidInput, match="unknown param"):
        run_local(tmp_path, "greet", {"greting": "typo"}, team="t", clock=fake_clock())
    with pytest.raises(InvalidInput, match="must be of type integer"):
        run_local(tmp_path, "greet", {"times": "two"}, team="t", clock=fake_clock())


def test_a_missing_dag_names_the_files_that_failed_to_import(tmp_path: Path) -> None:
    write_dag(tmp_path, "greet.py", SHELL_DAG)
    write_dag(tmp_path, "broken.py", 'from brisa import DAG\nDAG("report")\nraise KeyError("x")\n')
    write_dag(tmp_path, "_private.py", "raise SystemExit('never imported')\n")

    with pytest.raises(NotFound) as caught:
        run_local(tmp_path, "report", None, team="t", clock=fake_clock())

    message = str(caught.value)
    assert message.startswith(f"no DAG 'report' in {tmp_path}")
    assert "broken.py:3 failed to import: KeyError: 'x'" in message
    assert "Traceback" in message  # the file mentions the DAG id: its traceback helps
    assert "_private" not in message


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dags"


def test_the_shell_example_runs_a_hostile_param_as_plain_text(tmp_path: Path) -> None:
    # Whoever may trigger the example must not be able to run commands through its params.
    pwned = tmp_path / "pwned"
    greeting = f"$(touch {pwned})'`touch {pwned}`\";touch {pwned}"
    conf = {"greeting": greeting, "repeat": 2}
    results = run_local(
        EXAMPLES / "shell_pipeline.py", "shell_pipeline", conf, team="t", clock=fake_clock()
    )
    assert states(results) == {"generate": T.SUCCESS, "count": T.SUCCESS, "report": T.SUCCESS}
    assert not pwned.exists()
    words = len(f"{greeting} world".split())
    assert results[1].return_value == str(2 * words)


def test_a_list_and_a_dict_of_tasks_receive_the_upstream_values_in_order(tmp_path: Path) -> None:
    with DAG("fan_in") as dag:

        @task
        def number(n: int) -> int:
            return n

        @task
        def join(values: list[int], named: dict[str, int]) -> list[Any]:
            return [values, named]

        tasks = [number.override(task_id=f"n{i}")(i) for i in (3, 1, 2)]
        join(tasks, named={"first": tasks[0], "last": tasks[-1]})

    results = run_dag(
        serialize(dag, "fan_in.py"), local_run(dag), executor(dag, tmp_path), fake_clock()
    )
    by_id = {r.task_id: r for r in results}
    assert [r.task_id for r in results][-1] == "join"  # after all of its upstream tasks
    assert by_id["join"].return_value == [[3, 1, 2], {"first": 3, "last": 2}]
