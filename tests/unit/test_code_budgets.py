"""Budgets enforced by tools, not taste: a module under src/ that passes 500 lines is split
by concept (docs/development.md, "Code budgets")."""

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_LINES = 500


def test_every_module_stays_within_its_line_budget() -> None:
    modules = [path for path in SRC.rglob("*.py") if "migrations" not in path.parts]
    assert len(modules) > 50  # the walk found the code
    over = {
        str(path.relative_to(SRC)): lines
        for path in modules
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert over == {}, f"split these modules by concept (lines over {MAX_LINES}): {over}"
