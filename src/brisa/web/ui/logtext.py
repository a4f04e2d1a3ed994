"""Log text as HTML lines: the ONE place log bytes become markup (UI.md A.1-8, A.3-7).

Used by the attempt page's log viewer (pages) and by the event stream (`log` events), so a
line looks the same whether it came with the page or live. Every character of the log is
escaped; ANSI SGR colour codes become classed spans (other escape sequences are dropped), so
nothing from a log is ever passed through as HTML.

One line renders as

    <div class="ll ll-error" id="L12" data-n="12" data-level="error">
      <span class="lts">2026-11-24T10:00:00.123Z</span> <span class="ltx">text…</span></div>

- `ll-<level>`: `error`, `warning`, `info` or `debug`, inferred from the line's words. The
  level tag (`ERR`, `WRN`) and the line number are drawn by CSS from `data-level`/`data-n`
  (`::before { content: attr(data-n) }`), so they are not part of a selection or a copy.
- `lts`: the UTC stamp the worker put on the line, when it has one.
- ANSI: `ansi-fg-<0..15>`, `ansi-bg-<0..15>`, `ansi-b` (bold), `ansi-i`, `ansi-u`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_OTHER_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-_])")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
_LEVELS = (
    ("error", re.compile(r"\b(ERROR|CRITICAL|FATAL|Traceback \(most recent call last\))")),
    ("warning", re.compile(r"\b(WARNING|WARN)\b")),
    ("debug", re.compile(r"\bDEBUG\b")),
)
_FLAGS = {1: "ansi-b", 3: "ansi-i", 4: "ansi-u"}
_UNSET = {22: "ansi-b", 23: "ansi-i", 24: "ansi-u"}


@dataclass
class _Style:
    """The SGR state in force: carried from line to line within one text."""

    fg: int | None = None
    bg: int | None = None
    flags: set[str] = field(default_factory=set)

    def classes(self) -> str:
        names = sorted(self.flags)
        if self.fg is not None:
            names.append(f"ansi-fg-{self.fg}")
        if self.bg is not None:
            names.append(f"ansi-bg-{self.bg}")
        return " ".join(names)

    def apply(self, params: str) -> None:
        for code in [int(p) if p else 0 for p in params.split(";")]:
            self._apply_one(code)

    def _apply_one(self, code: int) -> None:
        if code == 0:
            self.fg, self.bg, self.flags = None, None, set()
        elif code in _FLAGS:
            self.flags.add(_FLAGS[code])
        elif code in _UNSET:
            self.flags.discard(_UNSET[code])
        elif 30 <= code <= 37 or 90 <= code <= 97:
            self.fg = code - 30 if code < 90 else code - 82
        elif 40 <= code <= 47 or 100 <= code <= 107:
            self.bg = code - 40 if code < 100 else code - 92
        elif code == 39:
            self.fg = None
        elif code == 49:
            self.bg = None


def level_of(line: str) -> str:
    """The level a line shows: error, warning, debug or info."""
    for name, pattern in _LEVELS:
        if pattern.search(line):
            return name
    return "info"


def _span(text: str, style: _Style) -> Markup:
    classes = style.classes()
    if not classes:
        return escape(text)
    return Markup('<span class="{}">{}</span>').format(classes, text)


def _coloured(line: str, style: _Style) -> Markup:
    """`line` escaped, its SGR codes turned into spans; other escape sequences dropped."""
    out = Markup()
    position = 0
    for match in _SGR.finditer(line):
        out += _span(_OTHER_ESCAPE.sub("", line[position : match.start()]), style)
        style.apply(match.group(1))
        position = match.end()
    return out + _span(_OTHER_ESCAPE.sub("", line[position:]), style)


def plain(line: str) -> str:
    """A line without its escape sequences (what a level or a search looks at)."""
    return _OTHER_ESCAPE.sub("", _SGR.sub("", line))


def _line(line: str, number: int, style: _Style) -> Markup:
    line = line.removesuffix("\r")
    level = level_of(plain(line))
    stamp = _STAMP.match(line)
    head = Markup()
    if stamp:
        head = Markup('<span class="lts">{}</span> ').format(stamp.group(1))
        line = line[stamp.end() :]
    return Markup(
        '<div class="ll ll-{level}" id="L{n}" data-n="{n}" data-level="{level}">'
        '{head}<span class="ltx">{body}</span></div>'
    ).format(level=level, n=number, head=head, body=_coloured(line, style))


def split_lines(text: str) -> list[str]:
    """The lines of `text`; a final newline does not start an empty line."""
    if not text:
        return []
    return text.removesuffix("\n").split("\n")


def render_lines(text: str, first_line_number: int) -> Markup:
    """`text` (one or more lines of a log) as HTML lines numbered from `first_line_number`."""
    style = _Style()
    return Markup("\n").join(
        _line(line, number, style)
        for number, line in enumerate(split_lines(text), start=first_line_number)
    )
