"""Docs that are generated from code must match it."""

from pathlib import Path

from brisa.states import mermaid_diagram

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_state_diagram_is_generated_from_the_transition_tables() -> None:
    text = (DOCS / "states.md").read_text()
    assert mermaid_diagram() in text, "run: python -m brisa.states > docs/states.md"
