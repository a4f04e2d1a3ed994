"""Run parameters: declared with defaults, validated when a run is triggered."""

from __future__ import annotations

from typing import Any

import pytest

from brisa.authoring.params import Param, as_param, infer_type, resolve_conf
from brisa.errors import InvalidInput


def specs(**params: Any) -> dict[str, dict[str, Any]]:
    return {name: as_param(p).to_spec() for name, p in params.items()}


def test_defaults_fill_what_the_trigger_does_not_set() -> None:
    declared = specs(region="eu", limit=10, dry_run=False)
    assert resolve_conf(declared, {"limit": 3}) == {"region": "eu", "limit": 3, "dry_run": False}


@pytest.mark.parametrize("conf", [None, {}])
def test_no_conf_means_all_defaults(conf: Any) -> None:
    assert resolve_conf(specs(region="eu"), conf) == {"region": "eu"}


def test_no_params_and_no_conf() -> None:
    assert resolve_conf({}, None) == {}


@pytest.mark.parametrize("conf", [[1, 2], "region=eu", 3, True])
def test_conf_must_be_an_object(conf: Any) -> None:
    with pytest.raises(InvalidInput, match="conf must be a JSON object"):
        resolve_conf(specs(region="eu"), conf)


def test_unknown_keys_are_rejected_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_conf(specs(region="eu", limit=10), {"regoin": "us", "zzz": 1})
    message = str(info.value)
    assert "regoin, zzz" in message
    assert "limit, region" in message


def test_unknown_keys_on_a_dag_without_params() -> None:
    with pytest.raises(InvalidInput, match="accepts: none"):
        resolve_conf({}, {"x": 1})


def test_required_param_must_be_passed() -> None:
    declared = specs(table=Param(type="string"))
    with pytest.raises(InvalidInput, match="'table' is required"):
        resolve_conf(declared, {})
    assert resolve_conf(declared, {"table": "sales"}) == {"table": "sales"}


def test_a_param_with_a_default_is_not_required() -> None:
    assert Param(type="string").required
    assert not Param(default="x").required
    assert not Param(default=None).required  # None is a real default


@pytest.mark.parametrize(
    ("default", "good", "bad"),
    [
        ("eu", "us", 3),
        (10, 11, "11"),
        (10, -4, 1.5),  # an integer param refuses a float
        (0.5, 2, "x"),  # a number param accepts an integer
        (False, True, 0),
        ([1], [], {}),
        ({"a": 1}, {}, []),
    ],
)
def test_values_must_have_the_type_of_the_default(default: Any, good: Any, bad: Any) -> None:
    declared = specs(p=default)
    assert resolve_conf(declared, {"p": good}) == {"p": good}
    with pytest.raises(InvalidInput, match="'p' must be of type"):
        resolve_conf(declared, {"p": bad})


@pytest.mark.parametrize("kind", ["integer", "number"])
@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_an_integer_or_number(kind: str, value: bool) -> None:
    declared = specs(n=Param(default=1, type=kind))
    with pytest.raises(InvalidInput, match=f"must be of type {kind}, got {str(value).lower()}"):
        resolve_conf(declared, {"n": value})


def test_infer_type_checks_bool_before_int() -> None:
    assert infer_type(True) == "boolean"
    assert infer_type(3) == "integer"
    assert infer_type(3.0) == "number"
    assert infer_type("x") == "string"
    assert infer_type([]) == "array"
    assert infer_type({}) == "object"
    assert infer_type(None) is None


def test_untyped_param_without_default_accepts_anything() -> None:
    declared = specs(anything=Param(default=None))
    assert declared["anything"].type is None
    assert resolve_conf(declared, {"anything": [1, "a"]}) == {"anything": [1, "a"]}


def test_enum() -> None:
    declared = specs(env=Param(default="dev", enum=("dev", "prod")))
    assert resolve_conf(declared, {"env": "prod"}) == {"env": "prod"}
    with pytest.raises(InvalidInput, match=r"'env' must be one of \['dev', 'prod'\], got \"qa\""):
        resolve_conf(declared, {"env": "qa"})


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1, None),
        (5, None),
        (10, None),
        (0, "'n' must be >= 1, got 0"),
        (11, "'n' must be <= 10, got 11"),
    ],
)
def test_minimum_and_maximum_are_inclusive(value: int, error: str | None) -> None:
    declared = specs(n=Param(default=5, minimum=1, maximum=10))
    if error is None:
        assert resolve_conf(declared, {"n": value}) == {"n": value}
    else:
        with pytest.raises(InvalidInput, match=error):
            resolve_conf(declared, {"n": value})


@pytest.mark.parametrize("value", ["abc", [1], None, True])
def test_bounds_without_a_type_reject_non_numbers_cleanly(value: Any) -> None:
    # Used to crash with TypeError ("'<' not supported") instead of a 400-style InvalidInput.
    declared = specs(n=Param(minimum=1))
    with pytest.raises(InvalidInput, match="'n' must be a number"):
        resolve_conf(declared, {"n": value})


def test_unknown_param_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown param type 'int'; use one of string, integer"):
        Param(default=1, type="int")


def test_as_param_fills_in_the_type_and_keeps_the_rest() -> None:
    p = as_param(Param(default=3, description="how many", minimum=1, secret=True))
    assert p.type == "integer"
    assert (p.default, p.description, p.minimum, p.secret) == (3, "how many", 1, True)
    explicit = Param(default=3, type="number")
    assert as_param(explicit) is explicit
    assert as_param("eu") == Param(default="eu", type="string")


def test_to_spec_only_carries_what_was_declared() -> None:
    assert Param(type="string").to_spec().to_json() == {"type": "string", "description": ""}
    full = Param(default=2, type="integer", description="d", enum=(1, 2), minimum=1, maximum=2)
    assert as_param(Param(default="s", secret=True)).to_spec().to_json() == {
        "type": "string",
        "description": "",
        "default": "s",
        "secret": True,
    }
    assert full.to_spec().to_json() == {
        "type": "integer",
        "description": "d",
        "default": 2,
        "enum": [1, 2],
        "minimum": 1,
        "maximum": 2,
    }


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        (Param(0.5, type="number", multiple_of=0.25), 0.6, "multiple of 0.25"),
        (Param("2026-01-01", type="string", format="date"), "2026-13-01", "a date like"),
        (Param("09:30", type="string", format="time"), "9h", "a time of day"),
        (Param("2026-01-01T00:00:00Z", format="date-time"), "2026-01-01T00:00", "with its offset"),
        (Param(["a"], type="array", items="string"), ["a", 1], "item 2 must be of type string"),
        (Param(2, type="integer", const=True), 3, "is fixed to 2"),
    ],
)
def test_form_shaping_declarations_are_checked_on_trigger(
    param: Param, value: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        resolve_conf(specs(p=param), {"p": value})


@pytest.mark.parametrize(
    ("param", "value"),
    [
        (Param(0.5, type="number", multiple_of=0.25), 0.75),
        (Param(0, type="integer", multiple_of=5), -15),
        (Param("2026-01-01T00:00:00Z", format="date-time"), "2026-03-01T09:00:00+09:00"),
        (Param([], type="array", items="integer"), [1, 2]),
        (Param("", type="string", format="multiline"), "two\nlines"),
    ],
)
def test_values_that_fit_their_declaration_pass(param: Param, value: Any) -> None:
    assert resolve_conf(specs(p=param), {"p": value}) == {"p": value}


def test_form_shaping_fields_round_trip_through_the_spec_and_stay_out_when_unused() -> None:
    from brisa.core.paramspec import ParamSpec

    full = Param(
        [1], type="array", items="integer", section="S", examples=([1],), multiple_of=1.0
    ).to_spec()
    assert ParamSpec.from_json(full.to_json()) == full
    assert set(Param(1).to_spec().to_json()) == {"type", "description", "default"}


@pytest.mark.parametrize(
    "kwargs",
    [{"format": "email"}, {"items": "tuple"}, {"multiple_of": 0}, {"const": True}],
)
def test_bad_form_declarations_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        Param(**kwargs)


def test_conf_problems_names_every_bad_param() -> None:
    from brisa.authoring.params import conf_problems

    declared = specs(a=Param(type="string"), b=Param(1, maximum=2), c=3)
    problems = conf_problems(declared, {"b": 5, "zz": 1})
    assert list(problems) == ["a", "b", "zz"]
    assert "required" in problems["a"] and "<= 2" in problems["b"]
