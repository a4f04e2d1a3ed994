"""Serialized DAGs: plain JSON, versioned by content, read into a typed DagSpec."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brisa import DAG, Param, shell, task
from brisa.authoring.serialize import serialize
from brisa.core.paramspec import ParamSpec
from brisa.core.spec import (
    SPEC_FORMAT,
    Binding,
    DagSpec,
    IntervalSchedule,
    ManualSchedule,
    PythonCall,
    ShellCommand,
    canonical_json,
    schedule_from_json,
    structure_version,
)
from brisa.errors import DagDefinitionError

START = datetime(2026, 1, 1, tzinfo=UTC)


@task
def extract() -> list[int]:
    return [1, 2]


@task
def load(rows: list[int], table: str = "sales") -> None:
    pass


def build(
    *, reverse: bool = False, retries: int = 1, command: str = "echo {{ ds }}", extra: bool = False
) -> DAG:
    """The same DAG each call; `reverse` declares everything in the opposite order."""
    params: dict[str, Any] = {"table": "sales", "limit": Param(default=10, minimum=1)}
    tags = ["team-a", "etl"]
    with DAG(
        "sales",
        schedule="0 3 * * *",
        timezone="Europe/Berlin",
        start_date=START,
        params=dict(reversed(params.items())) if reverse else params,
        tags=list(reversed(tags)) if reverse else tags,
        retries=retries,
        description="daily sales",
    ) as dag:
        rows = extract()
        a, b = shell("notify", command), shell("report", "true")
        done = load(rows, table="sales")
        done >> ([b, a] if reverse else [a, b])
        if extra:
            a >> b
    return dag


def test_spec_is_plain_json_with_the_dag_definition() -> None:
    spec = serialize(build(), "team_a/sales.py").to_json()
    assert json.loads(json.dumps(spec)) == spec
    assert spec["format"] == SPEC_FORMAT
    assert spec["dag_id"] == "sales"
    assert spec["fileloc"] == "team_a/sales.py"
    assert spec["schedule"] == {"kind": "cron", "expr": "0 3 * * *", "timezone": "Europe/Berlin"}
    assert spec["start_date"] == "2026-01-01T00:00:00+00:00"
    assert spec["end_date"] is None
    assert spec["catchup"] is False
    assert spec["tags"] == ["etl", "team-a"]
    assert spec["description"] == "daily sales"
    assert spec["params"]["limit"] == {
        "type": "integer",
        "description": "",
        "default": 10,
        "minimum": 1,
    }
    assert [t["task_id"] for t in spec["tasks"]] == ["extract", "load", "notify", "report"]
    by_id = {t["task_id"]: t for t in spec["tasks"]}
    assert by_id["load"]["upstream"] == ["extract"]
    assert by_id["report"]["upstream"] == ["load"]
    assert by_id["load"]["args"] == [{"ref": "extract"}]
    assert by_id["notify"]["retries"] == 1


def test_same_dag_twice_has_the_same_structure_version() -> None:
    first = serialize(build(), "sales.py").to_json()
    second = serialize(build(), "sales.py").to_json()
    assert canonical_json(first) == canonical_json(second)
    assert structure_version(first) == structure_version(second)


def test_declaration_order_does_not_change_the_version() -> None:
    assert structure_version(serialize(build(), "s.py").to_json()) == structure_version(
        serialize(build(reverse=True), "s.py").to_json()
    )


def test_structure_version_is_a_short_hex_digest() -> None:
    version = structure_version(serialize(build(), "s.py").to_json())
    assert len(version) == 16
    int(version, 16)


@pytest.mark.parametrize(
    "change",
    [
        lambda: build(retries=2),
        lambda: build(command="echo {{ run_id }}"),
        lambda: build(extra=True),
    ],
    ids=["retries", "command", "dependency"],
)
def test_a_changed_dag_gets_a_new_version(change: Callable[[], DAG]) -> None:
    base = structure_version(serialize(build(), "s.py").to_json())
    assert structure_version(serialize(change(), "s.py").to_json()) != base


def test_any_change_to_the_spec_changes_the_version() -> None:
    spec = serialize(build(), "s.py").to_json()
    changed = json.loads(json.dumps(spec))
    changed["params"]["table"]["default"] = "orders"
    assert structure_version(changed) != structure_version(spec)


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"y": 2, "x": 1}]}) == '{"a":[1,{"x":1,"y":2}],"b":1}'


def test_serialize_validates_the_dag() -> None:
    with DAG("loop") as dag:
        a, b = shell("a", "true"), shell("b", "true")
        a >> b >> a
    with pytest.raises(DagDefinitionError, match="cycle"):
        serialize(dag, "loop.py")


# --- DagSpec -------------------------------------------------------------------------------


def diamond() -> DagSpec:
    """a -> (b, c) -> d, e alone; read back from JSON like the scheduler does."""
    with DAG(
        "diamond",
        schedule=timedelta(hours=1),
        start_date=START,
        end_date=datetime(2026, 2, 1, tzinfo=UTC),
        params={"n": 1},
    ) as dag:
        a, b, c, d = (shell(x, "true") for x in "abcd")
        shell("e", "true")
        a >> [b, c]
        [b, c] >> d
    return DagSpec.from_json(json.loads(canonical_json(serialize(dag, "diamond.py").to_json())))


def test_dag_spec_accessors() -> None:
    spec = diamond()
    assert spec.dag_id == "diamond"
    assert spec.schedule == IntervalSchedule(3600.0)
    assert spec.start_date == START
    assert spec.end_date == datetime(2026, 2, 1, tzinfo=UTC)
    assert spec.start_date.tzinfo is not None
    assert sorted(spec.tasks) == ["a", "b", "c", "d", "e"]
    assert spec.tasks["d"].upstream == ("b", "c")
    assert spec.tasks["d"].body == ShellCommand("true")
    assert spec.params == {"n": ParamSpec(type="integer", required=False, default=1)}
    assert spec.param_defaults() == {"n": 1}


def test_a_spec_cannot_be_changed_through_what_it_hands_out() -> None:
    spec = diamond()
    with pytest.raises(TypeError):
        spec.params["m"] = ParamSpec()  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.tasks["d"].body.env["X"] = "1"  # type: ignore[union-attr]
    data = spec.to_json()
    data["tasks"][0]["upstream"].append("z")
    data["params"]["n"]["default"] = 2
    assert spec.to_json() != data
    assert spec.tasks["a"].upstream == () and spec.params["n"].default == 1


def test_dag_spec_without_dates() -> None:
    with DAG("manual") as dag:
        shell("a", "true")
    spec = serialize(dag, "m.py")
    assert spec.start_date is None and spec.end_date is None
    assert spec.schedule == ManualSchedule()
    assert spec.to_json()["start_date"] is None


def test_serialize_gives_what_reading_its_json_gives() -> None:
    spec = serialize(build(), "sales.py")
    assert DagSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_python_bindings_and_their_upstream_values() -> None:
    load_task = serialize(build(), "sales.py").tasks["load"]
    assert isinstance(load_task.body, PythonCall) and load_task.kind == "python"
    assert load_task.body.args == (Binding(ref="extract"),)
    assert load_task.body.kwargs == {"table": Binding(value="sales")}
    assert load_task.body.refs() == {"extract"}
    upstream = {"extract": [1, 2]}
    assert [b.resolve(upstream) for b in load_task.body.args] == [[1, 2]]
    assert load_task.body.kwargs["table"].resolve(upstream) == "sales"


@pytest.mark.parametrize(
    ("data", "ids", "value"),
    [
        ({"ref": "a"}, ["a"], 1),
        ({"refs": ["b", "a", "gone"]}, ["b", "a", "gone"], [2, 1, None]),
        ({"refs": {"z": "b", "y": "a"}}, ["b", "a"], {"z": 2, "y": 1}),
        ({"value": {"ref": "not a ref"}}, [], {"ref": "not a ref"}),
    ],
)
def test_each_binding_shape_names_its_tasks_and_resolves(
    data: dict[str, Any], ids: list[str], value: Any
) -> None:
    binding = Binding.from_json(data)
    assert binding.task_ids() == ids
    assert binding.resolve({"a": 1, "b": 2}) == value
    assert json.dumps(binding.to_json()) == json.dumps(data)  # the same keys, in order


def test_a_binding_to_a_null_value_is_a_value_not_a_ref() -> None:
    binding = Binding.from_json({"value": None})
    assert binding.ref is None and binding.to_json() == {"value": None}


def test_secret_params_are_named_in_order() -> None:
    with DAG("s", params={"z": Param("a", secret=True), "a": Param("b", secret=True), "p": 1}):
        dag_task = shell("t", "true")
    spec = serialize(dag_task.dag, "s.py")
    assert spec.secret_params() == ("a", "z")


def test_a_required_param_has_no_default_and_none_is_a_default() -> None:
    required = ParamSpec.from_json({"type": "string", "description": ""})
    assert required.required and "default" not in required.to_json()
    nothing = ParamSpec.from_json({"type": None, "description": "", "default": None})
    assert not nothing.required and nothing.to_json()["default"] is None


def test_an_unknown_task_kind_is_refused_by_name() -> None:
    data = serialize(build(), "sales.py").to_json()
    data["tasks"][0]["kind"] = "teleport"
    with pytest.raises(ValueError, match="'extract' has an unknown kind 'teleport'"):
        DagSpec.from_json(data)


def test_an_unknown_schedule_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown schedule kind 'lunar'"):
        schedule_from_json({"kind": "lunar"})


def test_downstream() -> None:
    assert diamond().downstream() == {
        "a": {"b", "c"},
        "b": {"d"},
        "c": {"d"},
        "d": set(),
        "e": set(),
    }


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ({"a"}, {"b", "c", "d"}),
        ({"b"}, {"d"}),
        ({"b", "c"}, {"d"}),
        ({"d"}, set()),
        ({"e"}, set()),
        (set(), set()),
        ({"a", "b"}, {"b", "c", "d"}),  # a start task reached from another one is included
    ],
)
def test_descendants(start: set[str], expected: set[str]) -> None:
    assert diamond().descendants(start) == expected
