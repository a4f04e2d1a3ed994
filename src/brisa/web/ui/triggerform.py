"""The trigger form as data (UI.md A.4.1): its fields grouped in sections, each with what it
shows, its error and whether it differs from the default; and the reading of a submitted form
into a conf plus one error per field. Pure. Every value is checked by
`authoring.params.conf_problems`, the code the REST API's trigger uses, so the form and the API
never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from brisa.authoring.params import conf_problems
from brisa.core.paramspec import ParamSpec
from brisa.web.ui import paramfields
from brisa.web.ui.paramfields import MISSING

PREFIX = "p."  # form names of params: "p.<name>", apart from run_id, mode, ...


@dataclass(frozen=True)
class Field:
    name: str
    index: int
    spec: ParamSpec
    widget: str
    raw: str  # the widget's text
    error: str
    changed: bool

    @property
    def input_id(self) -> str:
        return f"param-{self.index}"

    @property
    def form_name(self) -> str:
        return PREFIX + self.name

    @property
    def options(self) -> list[tuple[str, str]]:
        """(value as JSON, label) of an enum's choices."""
        return [
            (json.dumps(v), v if isinstance(v, str) else json.dumps(v))
            for v in self.spec.enum or ()
        ]

    @property
    def step(self) -> str:
        if self.spec.multiple_of is not None:
            return f"{self.spec.multiple_of:g}"
        return "1" if self.spec.type == "integer" else "any"


@dataclass(frozen=True)
class Section:
    title: str  # "" for the params without a section (never collapsed)
    fields: list[Field]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.fields if f.error)

    @property
    def open(self) -> bool:
        """Collapsed unless it has an error or a required param."""
        return not self.title or self.errors > 0 or any(f.spec.required for f in self.fields)


def raws_from_conf(
    specs: Mapping[str, ParamSpec], conf: Mapping[str, Any], zone: ZoneInfo
) -> dict[str, str | None]:
    """The widgets' text for a conf, defaults filling the gaps (secret defaults stay empty:
    they are never sent to the browser)."""
    raws: dict[str, str | None] = {}
    for name, spec in specs.items():
        if name in conf and not (spec.secret and conf[name] == "***"):
            raws[name] = paramfields.shown(spec, conf[name], zone)
        elif spec.required or spec.secret:
            raws[name] = None if paramfields.widget(spec) == "switch" else ""
        else:
            raws[name] = paramfields.shown(spec, spec.default, zone)
    return raws


def raws_from_form(
    specs: Mapping[str, ParamSpec], form: Mapping[str, str]
) -> dict[str, str | None]:
    return {name: form.get(PREFIX + name) for name in specs}


def read(
    specs: Mapping[str, ParamSpec], raws: Mapping[str, str | None], zone: ZoneInfo
) -> tuple[dict[str, Any], dict[str, str]]:
    """The conf the user entered (empty fields left out, so their defaults apply) and what is
    wrong with each field."""
    conf: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in specs.items():
        try:
            value = paramfields.parse(spec, raws.get(name), zone)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        if value is not MISSING:
            conf[name] = value
    for name, problem in conf_problems(specs, conf).items():
        errors.setdefault(name, _for_field(name, problem, specs.get(name)))
    return conf, errors


def check_one(specs: Mapping[str, ParamSpec], name: str, raw: str | None, zone: ZoneInfo) -> str:
    """The error of one field ("" when it is fine): what the form shows on tab-out."""
    _, errors = read({name: specs[name]}, {name: raw}, zone)
    return errors.get(name, "")


def sections(
    specs: Mapping[str, ParamSpec],
    raws: Mapping[str, str | None],
    errors: Mapping[str, str],
    zone: ZoneInfo,
) -> list[Section]:
    """Fields (required ones first, then in the spec's order) grouped by section, the
    params without a section first."""
    grouped: dict[str, list[Field]] = {}
    for index, (name, spec) in enumerate(specs.items()):
        raw = raws.get(name)
        try:
            value = paramfields.parse(spec, raw, zone)
        except ValueError:
            value = MISSING
        field = Field(
            name=name,
            index=index,
            spec=spec,
            widget=paramfields.widget(spec),
            raw=raw or "",
            error=errors.get(name, ""),
            changed=paramfields.differs(spec, value),
        )
        grouped.setdefault(spec.section, []).append(field)
    # Required params first: they are what the user must fill.
    out = [
        Section(title, sorted(fields, key=lambda f: not f.spec.required))
        for title, fields in grouped.items()
    ]
    return sorted(out, key=lambda s: s.title != "")  # unsectioned params first


def conf_text(
    specs: Mapping[str, ParamSpec], raws: Mapping[str, str | None], zone: ZoneInfo
) -> str:
    """The JSON tab's text: the full conf, defaults included; a field that cannot be read is
    shown as the text that was typed, so nothing is lost by switching."""
    full: dict[str, Any] = {}
    for name, spec in specs.items():
        try:
            value = paramfields.parse(spec, raws.get(name), zone)
        except ValueError:
            value = raws.get(name)
        if value is MISSING:
            if spec.required or spec.secret:
                continue
            value = spec.default
        full[name] = value
    return json.dumps(full, indent=2)


def conf_from_text(specs: Mapping[str, ParamSpec], text: str) -> dict[str, Any]:
    """The JSON tab's conf, or ValueError saying why the form cannot show it."""
    try:
        conf = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the JSON is not valid ({exc.msg}, line {exc.lineno}, column {exc.colno}); fix it "
            "to switch back to the form"
        ) from None
    if not isinstance(conf, dict):
        raise ValueError("the conf must be a JSON object of param names to values")
    unknown = sorted(set(conf) - set(specs))
    if unknown:
        raise ValueError(
            f"unknown param(s) {', '.join(unknown)}; this DAG accepts: {', '.join(specs)}"
        )
    return conf


def _for_field(name: str, problem: str, spec: ParamSpec | None) -> str:
    """The API's message without the param's name, which the field already shows."""
    if spec is not None and spec.required and "is required" in problem:
        return "required: give it a value"
    return problem.removeprefix(f"param {name!r} ").removeprefix(f"param {name!r}: ")
