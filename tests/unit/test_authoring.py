"""The authoring API as users write it in DAG files, and the errors they get for mistakes.

Every definition mistake must name this file and the line of the mistake, so these tests
record the expected line with `next_line()` right before the offending statement.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import brisa
from brisa import DAG, Param, TriggerRule, shell, task
from brisa.authoring.dag import PythonTask, ShellTask, collecting
from brisa.core.spec import IntervalSchedule
from brisa.errors import DagDefinitionError, InvalidInput

START = datetime(2026, 1, 1, tzinfo=UTC)


def next_line() -> int:
    """The line after the caller's: where the statement under test is."""
    return sys._getframe(1).f_lineno + 1


def assert_points_at(error: DagDefinitionError, line: int) -> None:
    assert error.filename == __file__
    assert error.lineno == line
    assert str(error).startswith(f"{__file__}:{line}: ")


@task
def extract() -> list[int]:
    return [1, 2, 3]


@task
def total(rows: list[int], scale: int = 1) -> int:
    return sum(rows) * scale


@task
def with_context(x: int, context: Any) -> int:
    return x


def specs(dag: DAG) -> dict[str, dict[str, Any]]:
    return {tid: t.to_spec().to_json() for tid, t in dag.tasks.items()}


def upstream(dag: DAG) -> dict[str, list[str]]:
    return {tid: sorted(t.upstream_ids) for tid, t in dag.tasks.items()}


# --- mistakes name the file and the line ---------------------------------------------------


def test_duplicate_task_id_points_at_the_second_definition() -> None:
    with DAG("d"):
        first = next_line()
        shell("load", "true")
        with pytest.raises(DagDefinitionError) as info:
            line = next_line()
            shell("load", "false")
    assert_points_at(info.value, line)
    assert f"duplicate task id 'load' in DAG 'd' (first defined at line {first})" in str(info.value)


def test_duplicate_task_id_from_task_decorator() -> None:
    named = extract.override(task_id="rows")
    with DAG("d"):
        named()
        with pytest.raises(DagDefinitionError, match="duplicate task id 'rows'") as info:
            line = next_line()
            named()
    assert_points_at(info.value, line)


def test_cycle_is_raised_by_validate_at_the_dag_line() -> None:
    line = next_line()
    with DAG("loop") as dag:
        a, b, c = shell("a", "true"), shell("b", "true"), shell("c", "true")
        a >> b >> c >> a
    with pytest.raises(DagDefinitionError, match="DAG 'loop' has a cycle: ") as info:
        dag.validate()
    assert_points_at(info.value, line)
    cycle = info.value.bare_message.split(": ")[1].split(" -> ")
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]


def test_a_task_depending_on_itself_is_a_cycle() -> None:
    with DAG("selfish") as dag:
        a = shell("a", "true")
        a >> a
    with pytest.raises(DagDefinitionError, match="cycle: a -> a"):
        dag.validate()


def test_an_acyclic_diamond_validates() -> None:
    with DAG("diamond") as dag:
        a, b, c, d = (shell(x, "true") for x in "abcd")
        a >> [b, c] >> d
    dag.validate()


def test_a_dag_without_tasks_does_not_validate() -> None:
    line = next_line()
    dag = DAG("empty")
    with pytest.raises(DagDefinitionError, match="DAG 'empty' has no tasks") as info:
        dag.validate()
    assert_points_at(info.value, line)


def test_unknown_trigger_rule() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError) as info:
        line = next_line()
        shell("a", "true", trigger_rule="all_sucess")
    assert_points_at(info.value, line)
    assert "unknown trigger rule 'all_sucess'; use one of: all_success, all_done" in str(info.value)


def test_invalid_cron() -> None:
    with pytest.raises(DagDefinitionError, match="invalid cron '0 0 32 \\* \\*'") as info:
        line = next_line()
        DAG("d", schedule="0 0 32 * *", start_date=START)
    assert_points_at(info.value, line)
    assert isinstance(info.value, InvalidInput)  # the API reports it as bad input


def test_unknown_time_zone() -> None:
    with pytest.raises(DagDefinitionError, match="unknown time zone 'Berlin'") as info:
        line = next_line()
        DAG("d", schedule="@daily", timezone="Berlin", start_date=START)
    assert_points_at(info.value, line)


def test_a_scheduled_dag_needs_a_start_date() -> None:
    with pytest.raises(DagDefinitionError, match="needs a start_date") as info:
        line = next_line()
        DAG("d", schedule="@daily")
    assert_points_at(info.value, line)
    DAG("manual_is_fine")


@pytest.mark.parametrize("value", [object(), {1, 2}, datetime(2026, 1, 1), math.nan, b"raw"])
def test_argument_values_must_be_json(value: Any) -> None:
    with DAG("d"), pytest.raises(DagDefinitionError) as info:
        line = next_line()
        total(value)
    assert_points_at(info.value, line)
    assert "argument 1 of task 'total' is not JSON-serialisable" in str(info.value)


def test_keyword_argument_values_must_be_json() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="argument 'scale' of task") as info:
        line = next_line()
        total([1], scale=timedelta(1))
    assert_points_at(info.value, line)


@pytest.mark.parametrize("default", [datetime(2026, 1, 1), {"when": object()}, math.inf])
def test_param_defaults_must_be_json(default: Any) -> None:
    with pytest.raises(DagDefinitionError, match="default of param 'day' is not JSON") as info:
        line = next_line()
        DAG("d", params={"day": default})
    assert_points_at(info.value, line)


def test_required_param_without_default_is_not_json_checked() -> None:
    dag = DAG("d", params={"table": Param(type="string", description="which table")})
    assert dag.params["table"].required


def test_shell_task_outside_a_dag() -> None:
    with pytest.raises(DagDefinitionError, match="'a' is created outside a DAG") as info:
        line = next_line()
        shell("a", "true")
    assert_points_at(info.value, line)


def test_task_function_called_outside_a_dag() -> None:
    with pytest.raises(DagDefinitionError, match="'extract' is created outside a DAG") as info:
        line = next_line()
        extract()
    assert_points_at(info.value, line)


@pytest.mark.parametrize(
    ("args", "kwargs", "why"),
    [
        ((), {}, "missing a required argument: 'rows'"),
        (([1], 2, 3), {}, "too many positional arguments"),
        (([1],), {"scael": 2}, "unexpected keyword argument 'scael'"),
    ],
)
def test_calling_a_task_function_with_wrong_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], why: str
) -> None:
    with DAG("d"), pytest.raises(DagDefinitionError) as info:
        line = next_line()
        total(*args, **kwargs)
    assert_points_at(info.value, line)
    assert "task 'total' called with arguments that do not fit total()" in str(info.value)
    assert why in str(info.value)


def test_the_context_argument_is_supplied_at_run_time() -> None:
    with DAG("d"):
        t = with_context(1)
    assert isinstance(t, PythonTask) and t.wants_context
    assert t.to_spec().to_json()["args"] == [{"value": 1}]
    assert "context" not in t.to_spec().to_json()["kwargs"]


@pytest.mark.parametrize("task_id", ["1st", "a b", "", "a/b"])
def test_invalid_task_id(task_id: str) -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="must be letters, digits") as info:
        line = next_line()
        shell(task_id, "true")
    assert_points_at(info.value, line)


@pytest.mark.parametrize("dag_id", ["9lives", "has space", "", "team/dag"])
def test_invalid_dag_id(dag_id: str) -> None:
    with pytest.raises(DagDefinitionError, match="DAG id") as info:
        line = next_line()
        DAG(dag_id)
    assert_points_at(info.value, line)


def test_ids_may_use_dashes_and_dots() -> None:
    with DAG("sales-eu.v2") as dag:
        shell("load-eu.daily", "true")
    assert list(dag.tasks) == ["load-eu.daily"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be a non-negative integer"),
        ({"retries": 1.5}, "retries must be a non-negative integer"),
        ({"retry_delay": -5}, "retry_delay must be a non-negative"),
        ({"execution_timeout": "1h"}, "execution_timeout must be a non-negative"),
        ({"max_retry_delay": timedelta(seconds=-1)}, "max_retry_delay must be a non-negative"),
    ],
)
def test_bad_task_options(options: dict[str, Any], message: str) -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match=message) as info:
        line = next_line()
        shell("a", "true", **options)
    assert_points_at(info.value, line)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be an integer >= 0"),
        ({"max_active_runs": 0}, "max_active_runs must be an integer >= 1"),
        ({"max_active_tasks": "8"}, "max_active_tasks must be an integer >= 1"),
        ({"dagrun_timeout": -1}, "dagrun_timeout must be a non-negative"),
    ],
)
def test_bad_dag_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message) as info:
        line = next_line()
        DAG("d", **options)
    assert_points_at(info.value, line)


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        ("", None, "needs a non-empty command string"),
        ("   ", None, "needs a non-empty command string"),
        ("echo", {"N": 1}, "must map strings to strings"),
    ],
)
def test_bad_shell_tasks(command: str, env: Any, message: str) -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match=message) as info:
        line = next_line()
        shell("a", command, env=env)
    assert_points_at(info.value, line)


def test_a_param_put_unquoted_into_a_shell_command_is_refused_at_its_line() -> None:
    with DAG("d", params={"x": "a"}), pytest.raises(DagDefinitionError) as info:
        line = next_line()
        shell("a", "echo 'hi';\n echo {{ params.x }}")
    assert_points_at(info.value, line)
    assert "shell task 'a': {{ params.x }} puts a param into the shell command unquoted" in str(
        info.value
    )
    assert "write {{ params.x | shquote }}" in str(info.value)


def test_a_param_quoted_with_shquote_is_accepted() -> None:
    with DAG("d", params={"x": "a"}):
        t = shell("a", "echo {{ params.x | shquote }} {{ ds }}")
    assert t.to_spec().to_json()["command"] == "echo {{ params.x | shquote }} {{ ds }}"


def test_mistake_inside_a_helper_points_at_the_helper() -> None:
    def make(dag: DAG) -> None:
        shell("x", "true", dag=dag, trigger_rule="never")

    dag = DAG("d")
    with pytest.raises(DagDefinitionError) as info:
        make(dag)
    assert_points_at(info.value, make.__code__.co_firstlineno + 1)


# --- dependencies --------------------------------------------------------------------------


def test_rshift_and_lshift_with_lists() -> None:
    with DAG("d") as dag:
        a, b, c, d, e = (shell(x, "true") for x in "abcde")
        a >> [b, c]
        [b, c] >> d
        e << [a, d]
    assert upstream(dag) == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"]}


def test_chains_and_reverse_lists() -> None:
    with DAG("d") as dag:
        a, b, c, d = (shell(x, "true") for x in "abcd")
        result = a >> b >> c
        [a, b] << d
    assert result is c
    assert upstream(dag) == {"a": ["d"], "b": ["a", "d"], "c": ["b"], "d": []}


def test_lshift_single_task() -> None:
    with DAG("d") as dag:
        a, b = shell("a", "true"), shell("b", "true")
        a << b
    assert upstream(dag) == {"a": ["b"], "b": []}


def test_dependencies_across_dags_are_refused() -> None:
    with DAG("one"):
        a = shell("a", "true")
    with DAG("two"):
        b = shell("b", "true")
        with pytest.raises(DagDefinitionError, match="a and b belong to different DAGs") as info:
            line = next_line()
            a >> b
    assert_points_at(info.value, line)


def test_depending_on_something_that_is_not_a_task() -> None:
    with DAG("d"):
        a = shell("a", "true")
        with pytest.raises(DagDefinitionError, match="it is not a task") as info:
            line = next_line()
            a >> ["b"]  # type: ignore[list-item]
    assert_points_at(info.value, line)


def test_return_values_become_dependencies_and_references() -> None:
    with DAG("etl") as dag:
        rows = extract()
        scale = extract.override(task_id="scale")()
        result = total(rows, scale=scale)
    assert upstream(dag) == {"extract": [], "scale": [], "total": ["extract", "scale"]}
    spec = result.to_spec().to_json()
    assert spec["args"] == [{"ref": "extract"}]
    assert spec["kwargs"] == {"scale": {"ref": "scale"}}
    assert spec["kind"] == "python" and spec["function"] == "total"


@task
def join(values: Any, label: str = "") -> Any:
    return values


def test_a_list_of_tasks_passes_their_values_in_order_and_records_the_dependencies() -> None:
    with DAG("fan_in") as dag:
        first, second = extract.override(task_id="b")(), extract.override(task_id="a")()
        joined = join([first, second], label="x")
    assert upstream(dag) == {"a": [], "b": [], "join": ["a", "b"]}
    assert joined.to_spec().to_json()["args"] == [{"refs": ["b", "a"]}]  # the order of the list
    assert joined.to_spec().to_json()["kwargs"] == {"label": {"value": "x"}}


def test_a_dict_or_tuple_of_tasks_passes_their_values_by_key() -> None:
    with DAG("fan_in") as dag:
        a, b = extract.override(task_id="a")(), extract.override(task_id="b")()
        by_key = join({"left": a, "right": b})
        by_tuple = join.override(task_id="pair")((b, a))
    assert upstream(dag)["join"] == ["a", "b"] and upstream(dag)["pair"] == ["a", "b"]
    assert by_key.to_spec().to_json()["args"] == [{"refs": {"left": "a", "right": "b"}}]
    assert by_tuple.to_spec().to_json()["args"] == [{"refs": ["b", "a"]}]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda a: [a, 1], id="list-mixed"),
        pytest.param(lambda a: {"x": a, "n": 1}, id="dict-mixed"),
        pytest.param(lambda a: [[a]], id="nested"),
        pytest.param(lambda a: {1: a}, id="dict-non-string-key"),
    ],
)
def test_tasks_mixed_with_other_values_are_refused_saying_what_to_do(value: Any) -> None:
    with DAG("d"):
        a = extract()
        with pytest.raises(DagDefinitionError) as info:
            line = next_line()
            join(value(a))
    assert_points_at(info.value, line)
    message = str(info.value)
    assert "argument 1 of task 'join'" in message
    assert "a list or dict holding only tasks" in message
    assert "PythonTask" not in message  # not the JSON encoder's complaint


def test_plain_arguments_are_stored_as_values() -> None:
    with DAG("d"):
        t = total([1, 2], scale=3)
    assert t.to_spec().to_json()["args"] == [{"value": [1, 2]}]
    assert t.to_spec().to_json()["kwargs"] == {"scale": {"value": 3}}
    assert t.upstream_ids == set()


def test_calling_a_task_function_again_numbers_the_ids() -> None:
    with DAG("d") as dag:
        one, two, three = extract(), extract(), extract()
    assert [one.task_id, two.task_id, three.task_id] == ["extract", "extract__2", "extract__3"]
    assert set(dag.tasks) == {"extract", "extract__2", "extract__3"}


def test_numbering_restarts_in_each_dag() -> None:
    with DAG("a"):
        extract()
    with DAG("b"):
        assert extract().task_id == "extract"


def test_task_function_with_an_explicit_dag_numbers_ids_too() -> None:
    # Used to raise "duplicate task id" on the second call when no `with DAG` was open.
    dag = DAG("d")
    bound = extract.override(dag=dag)
    assert [bound().task_id, bound().task_id] == ["extract", "extract__2"]


def test_task_decorator_options() -> None:
    @task(task_id="load_sales", retries=4, trigger_rule="all_done", doc="loads")
    def load() -> None:
        pass

    with DAG("d", retries=1):
        t = load()
    spec = t.to_spec().to_json()
    assert (spec["task_id"], spec["retries"], spec["trigger_rule"]) == ("load_sales", 4, "all_done")
    assert spec["doc"] == "loads"
    assert load.__name__ == "load"  # type: ignore[attr-defined]  # the decorated function keeps its identity


def test_override_keeps_the_other_options() -> None:
    @task(retries=2, retry_delay=5)
    def work() -> None:
        pass

    with DAG("d"):
        spec = work.override(task_id="again")().to_spec().to_json()
    assert (spec["task_id"], spec["retries"], spec["retry_delay"]) == ("again", 2, 5.0)


def test_trigger_rule_enum_is_accepted() -> None:
    with DAG("d"):
        t = shell("a", "true", trigger_rule=TriggerRule.ONE_FAILED)
    assert t.to_spec().to_json()["trigger_rule"] == "one_failed"


def test_tasks_inherit_dag_defaults_unless_they_set_their_own() -> None:
    with DAG(
        "d",
        retries=3,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=True,
        max_retry_delay=timedelta(hours=1),
        execution_timeout=600,
    ) as dag:
        shell("inherits", "true")
        shell(
            "overrides",
            "true",
            retries=0,
            retry_delay=0,
            retry_exponential_backoff=False,
            max_retry_delay=60,
            execution_timeout=timedelta(seconds=30),
        )
    keys = ["retries", "retry_delay", "retry_exponential_backoff"]
    keys += ["max_retry_delay", "execution_timeout"]
    spec = specs(dag)
    assert [spec["inherits"][k] for k in keys] == [3, 300.0, True, 3600.0, 600.0]
    # Zero and False are real choices, not "unset".
    assert [spec["overrides"][k] for k in keys] == [0, 0.0, False, 60.0, 30.0]


def test_task_defaults_without_dag_options() -> None:
    with DAG("d") as dag:
        shell("a", "true")
    spec = specs(dag)["a"]
    assert spec["retries"] == 0
    assert spec["retry_delay"] == 30.0
    assert spec["retry_exponential_backoff"] is False
    assert spec["max_retry_delay"] is None
    assert spec["execution_timeout"] is None
    assert spec["trigger_rule"] == "all_success"


def test_shell_task() -> None:
    with DAG("d"):
        line = next_line()
        t = shell("load", "psql -c 'select {{ ds }}'", env={"PGHOST": "db"}, cwd="/srv", retries=2)
    assert isinstance(t, ShellTask)
    spec = t.to_spec().to_json()
    assert spec["kind"] == "shell"
    assert spec["command"] == "psql -c 'select {{ ds }}'"
    assert (spec["env"], spec["cwd"], spec["retries"]) == ({"PGHOST": "db"}, "/srv", 2)
    assert spec["lineno"] == line
    assert repr(t) == "<ShellTask load>"


def test_task_created_with_an_explicit_dag() -> None:
    dag = DAG("d")
    shell("a", "true", dag=dag)
    assert list(dag.tasks) == ["a"]


def test_nested_dag_blocks_add_tasks_to_the_innermost() -> None:
    with DAG("outer") as outer:
        shell("a", "true")
        with DAG("inner") as inner:
            shell("b", "true")
        shell("c", "true")
    assert (sorted(outer.tasks), sorted(inner.tasks)) == (["a", "c"], ["b"])


# --- DAG attributes ------------------------------------------------------------------------


def test_naive_dates_are_read_in_the_dag_time_zone() -> None:
    dag = DAG(
        "d",
        schedule="@daily",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 1, 1),
        end_date=datetime(2026, 7, 1),
    )
    assert dag.start_date == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert dag.end_date == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert dag.start_date.tzinfo is UTC


def test_aware_dates_are_converted_to_utc() -> None:
    from zoneinfo import ZoneInfo

    aware = datetime(2026, 1, 1, 9, tzinfo=ZoneInfo("America/New_York"))
    dag = DAG("d", schedule="@daily", start_date=aware)
    assert dag.start_date == datetime(2026, 1, 1, 14, tzinfo=UTC)


def test_dag_attributes() -> None:
    dag = DAG(
        "d",
        schedule=timedelta(hours=1),
        start_date=START,
        catchup=True,
        params={"n": 1, "table": Param("orders", type="string")},
        tags=["b", "a", "b"],
        description="hourly",
        dagrun_timeout=timedelta(hours=2),
    )
    assert dag.schedule == IntervalSchedule(3600.0)
    assert dag.catchup is True
    assert dag.tags == ["a", "b"]
    assert dag.params["n"] == Param(default=1, type="integer")
    assert not dag.params["table"].required
    assert dag.dagrun_timeout == 7200.0
    assert repr(dag) == "<DAG d>"


def test_a_manual_dag_may_require_a_param() -> None:
    dag = DAG("d", params={"table": Param(type="string")})
    assert dag.params["table"].required


def test_a_scheduled_dag_cannot_have_a_required_param() -> None:
    with pytest.raises(DagDefinitionError, match="scheduled runs need one") as caught:
        DAG("d", schedule="@daily", start_date=START, params={"table": Param(type="string")})
    assert caught.value.lineno == sys._getframe().f_lineno - 1


@pytest.mark.parametrize(
    "param",
    [
        Param(0, minimum=1),
        Param(11, maximum=10),
        Param("x", enum=("a", "b")),
        Param("1", type="integer"),
    ],
)
def test_a_default_must_fit_its_own_declaration(param: Param) -> None:
    with pytest.raises(DagDefinitionError, match="default does not fit"):
        DAG("d", params={"p": param})


def test_a_single_tag_string_is_one_tag() -> None:
    # Used to become ['e', 'l', 't'].
    assert DAG("d", tags="etl").tags == ["etl"]


def test_an_owner_is_carried_into_the_spec_and_back() -> None:
    from brisa.authoring.serialize import serialize
    from brisa.core.spec import DagSpec

    with DAG("d", owner="data-eng") as dag:
        shell("a", "true")
    spec = serialize(dag, "d.py")
    assert spec.owner == "data-eng" and spec.to_json()["owner"] == "data-eng"
    assert DagSpec.from_json(spec.to_json()) == spec
    with DAG("d") as plain:
        shell("a", "true")
    unowned = serialize(plain, "d.py")
    # No key when none is named: a DAG's structure version stays what it was before owners.
    assert unowned.owner is None and "owner" not in unowned.to_json()
    assert unowned.structure_version() != spec.structure_version()


@pytest.mark.parametrize(
    ("owner", "says"),
    [
        (["a", "b"], "owner must be a string"),
        ("", "1 to 100 characters"),
        (" data", "without outer spaces"),
        ("x" * 101, "1 to 100 characters"),
        ("data;drop", "letters, digits, spaces and . _ - @ only"),
    ],
)
def test_a_bad_owner_is_a_definition_error_at_its_line(owner: Any, says: str) -> None:
    with pytest.raises(DagDefinitionError, match=says) as caught:
        DAG("d", owner=owner)
    assert caught.value.lineno == sys._getframe().f_lineno - 1
    assert caught.value.filename == __file__


def test_collecting_gathers_the_dags_created_inside() -> None:
    before = DAG("before")
    with collecting() as found:
        first = DAG("first")
        with collecting() as inner:
            nested = DAG("nested")
        second = DAG("second")
    after = DAG("after")
    assert found == [first, second]
    assert inner == [nested]
    assert before not in found and after not in found


def test_public_api_is_the_authoring_api() -> None:
    assert set(brisa.__all__) == {
        "DAG",
        "Param",
        "Task",
        "TaskContext",
        "TriggerRule",
        "container",
        "get_current_context",
        "shell",
        "task",
    }
