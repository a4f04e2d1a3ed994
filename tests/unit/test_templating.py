"""The `{{ name.path }}` templater used for shell commands."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from brisa.authoring.context import TaskContext
from brisa.authoring.templating import names_in, render, render_shell, shell_errors
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


# --- quoting for the shell -------------------------------------------------------------------

HOSTILE = ["$(id)", "`id`", "x; touch /tmp/pwned", "it's", 'a "b" c', "$HOME", "a\nb", "-n", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_shquote_makes_any_value_one_literal_shell_word(value: str) -> None:
    command = render_shell("printf '%s|' {{ params.x | shquote }}", {"params": {"x": value}})
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=True)
    assert done.stdout == f"{value}|"


def test_shquote_quotes_json_values_and_leaves_safe_words_alone() -> None:
    assert render("{{ params.limit | shquote }}", VARS) == "10"
    assert render("{{params.cfg|shquote}}", VARS) == """'{"deep": {"x": "y"}}'"""
    assert render("{{ ds | shquote }}", VARS) == "2026-01-02"


def test_an_unknown_filter_is_an_error_naming_the_filters() -> None:
    with pytest.raises(InvalidInput, match="unknown template filter 'upper'; filters: shquote"):
        render("{{ ds | upper }}", VARS)
    assert shell_errors("echo {{ ds | upper }}") == [
        "unknown template filter 'upper'; filters: shquote"
    ]


@pytest.mark.parametrize(
    "command",
    [
        "echo {{ params.x | shquote }}",
        "echo {{ ds }} {{ run_id }} {{ params.x | shquote }}-{{ task_id }}",
        "echo \"{{ ds }}\" '{{ run_id }}'",  # values the platform controls may be quoted
        r"echo '\'{{ params.x | shquote }}",  # a backslash does not escape inside '...'
        r"echo \'{{ params.x | shquote }}\'",  # nor does an escaped quote open one
        "cp {{ params.src | shquote }} /tmp/{{ params.dst | shquote }}.txt",
        "echo {{ params | shquote }}",
        "awk '{print $1}' file",
    ],
)
def test_quoted_params_and_platform_values_are_accepted(command: str) -> None:
    assert shell_errors(command) == []


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("echo {{ params.x }}", "{{ params.x }} puts a param into the shell command unquoted"),
        ("echo {{params.a.b}}", "write {{ params.a.b | shquote }}"),
        ("echo {{ params }}", "write {{ params | shquote }}"),
        ("echo '{{ params.x }}'", "unquoted"),
        ('echo "{{ params.x }}"', "unquoted"),
        ("echo '{{ params.x | shquote }}'", "stands inside ' quotes"),
        ('echo "hi {{ params.x | shquote }}"', 'stands inside " quotes'),
        ("echo \"it's\" '{{ params.x | shquote }}'", "stands inside ' quotes"),
    ],
)
def test_unquoted_params_in_a_shell_command_are_reported(command: str, says: str) -> None:
    errors = shell_errors(command)
    assert len(errors) == 1
    assert says in errors[0]


def test_render_shell_refuses_what_shell_errors_reports() -> None:
    # A DAG stored before the check existed: the worker still never runs an unquoted param.
    with pytest.raises(InvalidInput, match="unquoted"):
        render_shell("echo {{ params.table }}", VARS)
    rendered = render_shell("echo {{ params.table | shquote }} {{ ds }}", VARS)
    assert rendered == "echo sales 2026-01-02"
