"""How a state looks: one glyph per state (no two alike) and its words, so a state is never told
by colour alone (UI.md A.6). Templates use the `state` macro in `macros.html`."""

from __future__ import annotations

GLYPHS = {
    "none": "○",
    "pending": "◌",
    "queued": "◔",
    "running": "▶",
    "up_for_retry": "↻",
    "success": "✓",
    "failed": "✕",
    "upstream_failed": "⊘",
    "skipped": "⤼",
    "cancelled": "■",
}
WORDS = {state: state.replace("_", " ") for state in GLYPHS}
TERMINAL = frozenset({"success", "failed", "upstream_failed", "skipped", "cancelled"})


def glyph(state: str | None) -> str:
    return GLYPHS.get(state or "none", "?")


def words(state: str | None) -> str:
    return WORDS.get(state or "none", state or "none")
