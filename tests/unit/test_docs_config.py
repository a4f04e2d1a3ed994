"""docs/configuration.md documents every setting, and only settings that exist."""

import dataclasses
import re
from pathlib import Path

import pytest

from brisa.repos.config import RepoSettings
from brisa.settings import SECTIONS

CONFIG_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
# A setting is written in the docs as `[section] key`, in backticks.
DOCUMENTED = re.compile(r"`\[([a-z_]+)\] ([a-z_]+)`")

SETTINGS = [(section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


@pytest.fixture(scope="module")
def doc() -> str:
    return CONFIG_DOC.read_text()


@pytest.mark.parametrize(("section", "key"), SETTINGS, ids=[f"{s}.{k}" for s, k in SETTINGS])
def test_every_setting_is_documented(doc: str, section: str, key: str) -> None:
    assert f"`[{section}] {key}`" in doc, f"add [{section}] {key} to {CONFIG_DOC.name}"


def test_every_section_has_a_reference_table(doc: str) -> None:
    missing = [s for s in SECTIONS if f"### `[{s}]`" not in doc]
    assert missing == [], f"add a '### `[section]`' reference table for: {missing}"


def test_the_docs_name_no_setting_that_does_not_exist(doc: str) -> None:
    known = set(SETTINGS)
    unknown = sorted({m for m in DOCUMENTED.findall(doc) if m not in known})
    assert unknown == [], f"{CONFIG_DOC.name} documents settings that do not exist: {unknown}"


REPO_KEYS = [f.name for f in dataclasses.fields(RepoSettings) if f.name != "name"]


@pytest.mark.parametrize("key", REPO_KEYS)
def test_every_repository_setting_is_documented(doc: str, key: str) -> None:
    assert f"`[repos.NAME] {key}`" in doc, f"add [repos.NAME] {key} to {CONFIG_DOC.name}"


def test_the_docs_name_no_repository_setting_that_does_not_exist(doc: str) -> None:
    documented = set(re.findall(r"`\[repos\.NAME\] ([a-z_]+)`", doc))
    assert documented <= set(REPO_KEYS), documented - set(REPO_KEYS)
