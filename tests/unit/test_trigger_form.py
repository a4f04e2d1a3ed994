"""The trigger form as data: widgets per param, values to and from what the user types, and a
submitted form read into a conf with one error per field (web/ui/triggerform.py)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brisa.authoring.params import Param, as_param
from brisa.core.paramspec import ParamSpec
from brisa.web.ui import paramfields, triggerform
from brisa.web.ui.paramfields import MISSING

TOKYO = ZoneInfo("Asia/Tokyo")


def spec(param: Any) -> ParamSpec:
    return as_param(param).to_spec()


@pytest.mark.parametrize(
    ("param", "widget"),
    [
        (Param("x", type="string"), "text"),
        (Param("", type="string", format="multiline"), "textarea"),
        (Param("a", enum=("a", "b")), "select"),
        (Param(False), "switch"),
        (Param(1, type="integer", maximum=5), "number"),
        (Param(0.5, type="number"), "number"),
        (Param("2026-01-01", type="string", format="date"), "date"),
        (Param("09:00", type="string", format="time"), "time"),
        (Param("2026-01-01T00:00:00Z", type="string", format="date-time"), "datetime"),
        (Param(["a"], type="array", items="string"), "lines"),
        (Param([{"a": 1}], type="array", items="object"), "json"),
        (Param([], type="array"), "json"),
        (Param({}, type="object"), "json"),
        (Param(None), "json"),
        (Param(2, const=True), "hidden"),
    ],
)
def test_each_param_kind_has_its_widget(param: Param, widget: str) -> None:
    assert paramfields.widget(spec(param)) == widget


@pytest.mark.parametrize(
    ("param", "value"),
    [
        (Param("x", type="string"), "hello"),
        (Param("a", enum=("a", 2)), 2),
        (Param(False), True),
        (Param(1, type="integer"), -7),
        (Param(0.5, type="number"), 0.25),
        (Param(["a"], type="array", items="string"), ["x", "y z"]),
        (Param([1], type="array", items="integer"), [3, 4]),
        (Param({}, type="object"), {"k": [1, {"n": None}]}),
        (Param({}, type="object"), {}),
        (Param([], type="array"), []),
        (Param("2026-01-01T00:00:00Z", format="date-time", type="string"), "2026-03-01T00:00:00Z"),
    ],
)
def test_a_value_shown_in_its_widget_reads_back_the_same(param: Param, value: Any) -> None:
    s = spec(param)
    assert paramfields.parse(s, paramfields.shown(s, value, TOKYO), TOKYO) == value


def test_a_date_time_is_typed_in_the_display_zone_and_stored_in_utc() -> None:
    s = spec(Param("2026-01-01T00:00:00Z", type="string", format="date-time"))
    assert paramfields.parse(s, "2026-03-01T09:00", TOKYO) == "2026-03-01T00:00:00Z"
    assert paramfields.shown(s, "2026-03-01T00:00:00Z", TOKYO) == "2026-03-01T09:00"


@pytest.mark.parametrize(
    ("param", "raw", "message"),
    [
        (Param(1, type="integer"), "1.5", "not a whole number"),
        (Param(1.0, type="number"), "abc", "not a number"),
        (Param(1.0, type="number"), "nan", "finite"),
        (Param({}, type="object"), "{", "not valid JSON"),
        (Param([1], type="array", items="integer"), "1\nx", "not a whole number"),
        (Param([True], type="array", items="boolean"), "yes", "true or false"),
        (Param("2026-01-01T00:00:00Z", type="string", format="date-time"), "soon", "date and time"),
    ],
)
def test_what_cannot_be_read_says_why(param: Param, raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paramfields.parse(spec(param), raw, TOKYO)


def test_empty_fields() -> None:
    assert paramfields.parse(spec(Param("x", type="string")), "", TOKYO) == ""
    assert paramfields.parse(spec(Param(type="string")), "", TOKYO) is MISSING
    assert paramfields.parse(spec(Param(3, type="integer")), " ", TOKYO) is MISSING
    assert paramfields.parse(spec(Param(True)), None, TOKYO) is False
    assert paramfields.parse(spec(Param("k", type="string", secret=True)), "", TOKYO) is MISSING


SPECS = {
    "target": spec(Param(type="string")),
    "limit": spec(Param(10, type="integer", maximum=128)),
    "options": spec(Param({}, type="object", section="Advanced")),
    "payload": spec(Param(type="object", section="Advanced")),
}


def form(**raws: str) -> dict[str, str]:
    return {triggerform.PREFIX + name: value for name, value in raws.items()}


def test_a_good_form_reads_into_the_conf_the_api_accepts() -> None:
    raws = triggerform.raws_from_form(
        SPECS, form(target="t", limit="5", options="{}", payload='{"a": 1}')
    )
    conf, errors = triggerform.read(SPECS, raws, TOKYO)
    assert errors == {}
    assert conf == {"target": "t", "limit": 5, "options": {}, "payload": {"a": 1}}


def test_every_bad_field_gets_its_own_message_without_repeating_its_name() -> None:
    raws = triggerform.raws_from_form(SPECS, form(target="", limit="200", options="{"))
    _, errors = triggerform.read(SPECS, raws, TOKYO)
    assert errors["target"] == errors["payload"] == "required: give it a value"
    assert errors["limit"] == "must be <= 128, got 200"
    assert errors["options"].startswith("not valid JSON")
    assert triggerform.check_one(SPECS, "limit", "7", TOKYO) == ""


def test_sections_put_required_fields_first_and_count_errors() -> None:
    raws = triggerform.raws_from_conf(SPECS, {}, TOKYO)
    parts = triggerform.sections(SPECS, raws, {"options": "bad"}, TOKYO)
    assert [s.title for s in parts] == ["", "Advanced"]
    assert [f.name for f in parts[1].fields] == ["payload", "options"]
    assert parts[1].errors == 1 and parts[1].open
    closed = triggerform.sections({"o": SPECS["options"]}, {"o": "{}"}, {}, TOKYO)
    assert not closed[0].open


def test_values_from_a_run_are_marked_where_they_differ_from_the_defaults() -> None:
    raws = triggerform.raws_from_conf(SPECS, {"target": "x", "limit": 99, "options": {}}, TOKYO)
    fields = {f.name: f for s in triggerform.sections(SPECS, raws, {}, TOKYO) for f in s.fields}
    assert fields["limit"].changed and fields["limit"].raw == "99"
    assert not fields["options"].changed and not fields["target"].changed


def test_json_tab_shows_the_full_conf_and_reads_back() -> None:
    raws = triggerform.raws_from_form(SPECS, form(target="t", limit="x", options="{}"))
    text = triggerform.conf_text(SPECS, raws, TOKYO)
    assert json.loads(text) == {"target": "t", "limit": "x", "options": {}}  # typed text kept
    assert triggerform.conf_from_text(SPECS, '{"limit": 3}') == {"limit": 3}
    for bad, message in (("{", "not valid"), ("[]", "JSON object"), ('{"zz": 1}', "unknown")):
        with pytest.raises(ValueError, match=message):
            triggerform.conf_from_text(SPECS, bad)


def test_secret_defaults_are_never_put_in_the_form() -> None:
    secret = {"token": spec(Param("s3cr3t", type="string", secret=True))}
    assert triggerform.raws_from_conf(secret, {"token": "***"}, TOKYO) == {"token": ""}
    conf, errors = triggerform.read(secret, {"token": ""}, TOKYO)
    assert conf == {} and errors == {}  # the server's default applies
