"""Docs that are generated from code must match it."""

import re
from pathlib import Path

from brisa.core.states import mermaid_diagram

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_state_diagram_is_generated_from_the_transition_tables() -> None:
    text = (DOCS / "states.md").read_text()
    assert mermaid_diagram() in text, "run: python -m brisa.core.states > docs/states.md"


SRC = Path(__file__).resolve().parents[2] / "src" / "brisa"


def test_the_developer_map_lists_every_module_and_no_other() -> None:
    text = (DOCS / "development.md").read_text()
    mapped = set(re.findall(r"^\| `([a-z0-9_/]+\.py)` \|", text, re.M))
    modules = {
        str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if "migrations" not in path.parts
    }
    assert modules - mapped == set(), "add these modules to docs/development.md"
    assert mapped - modules == set(), "docs/development.md lists modules that do not exist"
