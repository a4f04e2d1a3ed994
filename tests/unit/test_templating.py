"""The `{{ name.path }}` templater used for shell commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from brisa.authoring.context import TaskContext
from brisa.authoring.templating import names_in, render
from brisa.errors import InvalidInput

VARS: dict[str, Any] = {
    "ds": "2026-01-02",
    "run_id": "scheduled__2026-01-02",
    "try_number": 2,
    "params": {"table": "sales", "limit": 10, "cfg": {"deep": {"x": "y"}}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("echo {{ ds }}", "echo 2026-01-02"),
        ("echo {{ds}}", "echo 2026-01-02"),
        ("echo {{   run_id   }}", "echo scheduled__2026-01-02"),
        ("load {{ params.table }} --date={{ ds }}", "load sales --date=2026-01-02"),
        ("{{ params.cfg.deep.x }}", "y"),
        ("no placeholders at all", "no placeholders at all"),
        ("", ""),
    ],
)
def test_render_replaces_dotted_names(template: str, expected: str) -> None:
    assert render(template, VARS) == expected


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (10, "10"),
        (1.5, "1.5"),
        (True, "true"),
        (None, "null"),
        ([1, "a"], '[1, "a"]'),
        ({"k": "v"}, '{"k": "v"}'),
        ("plain", "plain"),  # strings are not quoted
    ],
)
def test_non_string_values_are_rendered_as_json(value: Any, rendered: str) -> None:
    assert render("v={{ v }}", {"v": value}) == f"v={rendered}"


def test_a_whole_object_renders_as_json() -> None:
    assert render("{{ params.cfg }}", VARS) == '{"deep": {"x": "y"}}'


@pytest.mark.parametrize(
    "template", ["{{ nope }}", "{{ params.nope }}", "{{ ds.year }}", "{{ params.table.x }}"]
)
def test_unknown_names_raise_naming_the_placeholder(template: str) -> None:
    name = template.strip("{} ")
    with pytest.raises(InvalidInput, match=rf"\{{\{{ {name} \}}\}}, which is not defined"):
        render(template, VARS)


def test_values_are_not_templated_again() -> None:
    # A param value that looks like a placeholder is inserted literally, never expanded.
    assert render("{{ a }}", {"a": "{{ b }}", "b": "secret"}) == "{{ b }}"


def test_text_that_is_not_a_placeholder_is_left_alone() -> None:
    assert render("awk '{print $1}' {{ x", VARS) == "awk '{print $1}' {{ x"


def test_names_in_lists_every_placeholder_in_order() -> None:
    assert names_in("{{ b }} {{a.c}} {{ b }}") == ["b", "a.c", "b"]
    assert names_in("none") == []


def test_renders_against_a_task_context() -> None:
    ctx = TaskContext(
        team="data",
        dag_id="sales",
        task_id="load",
        run_id="manual__1",
        try_number=1,
        logical_date=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
        data_interval_start=datetime(2026, 3, 3, 5, 6, tzinfo=UTC),
        data_interval_end=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
        params={"region": "eu"},
    )
    template = "{{ team }}/{{ dag_id }}/{{ ds }} {{ params.region }} {{ data_interval_end }}"
    assert (
        render(template, ctx.template_vars())
        == "data/sales/2026-03-04 eu 2026-03-04T05:06:00+00:00"
    )
