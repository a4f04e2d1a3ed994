"""Log text as HTML (UI.md A.3-7): every line escaped (a `<script>` printed by a task shows
literally), ANSI colours turned into classed spans (`ansi-fg-1`, `ansi-bold`, ...; other
escape sequences dropped), a level class and tag, and the line number and level tag drawn by
CSS from attributes, so that selecting lines copies exactly their text. Pure.

A line is `<div class="ll" id="L<n>" data-n="<n>" data-o="<offset>" data-lvl="<level>">`;
its stamp, when it has one, is a `<span class="ts">` holding the UTC and the display-zone
forms, of which the log's `ts-*` class shows one (or none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from brisa.logs.lines import Line, level_of, split_lines, split_stamp

_ESCAPE = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")
TAGS = {"error": "ERR", "warning": "WRN", "debug": "DBG", "info": ""}
MAX_LINE = 10_000  # characters shown of one line (UI.md A.3-10)


class Style:
    """The SGR state carried from one escape sequence to the next."""

    def __init__(self) -> None:
        self.fg: int | None = None
        self.bg: int | None = None
        self.bold = False
        self.dim = False
        self.italic = False
        self.underline = False

    def apply(self, params: str) -> None:
        codes = [int(p) for p in params.split(";") if p.isdigit()] or [0]
        index = 0
        while index < len(codes):
            index = self._one(codes, index)

    def _one(self, codes: list[int], index: int) -> int:
        code = codes[index]
        if code in (38, 48):  # 256-colour / true colour: map the 8 basic ones, skip the rest
            if index + 2 < len(codes) and codes[index + 1] == 5 and codes[index + 2] < 16:
                self._colour(code == 38, codes[index + 2])
                return index + 3
            return index + (3 if index + 1 < len(codes) and codes[index + 1] == 5 else 5)
        flags = {1: "bold", 2: "dim", 3: "italic", 4: "underline"}
        if code == 0:
            self.__init__()  # type: ignore[misc]
        elif code in flags:
            setattr(self, flags[code], True)
        elif code == 22:
            self.bold = self.dim = False
        elif code in (23, 24):
            setattr(self, "italic" if code == 23 else "underline", False)
        elif code in (39, 49):
            setattr(self, "fg" if code == 39 else "bg", None)
        elif 30 <= code <= 37 or 90 <= code <= 97:
            self._colour(True, code - 30 if code < 90 else code - 82)
        elif 40 <= code <= 47 or 100 <= code <= 107:
            self._colour(False, code - 40 if code < 100 else code - 92)
        return index + 1

    def _colour(self, foreground: bool, colour: int) -> None:
        if foreground:
            self.fg = colour
        else:
            self.bg = colour

    def classes(self) -> str:
        out = [f"ansi-fg-{self.fg}" if self.fg is not None else ""]
        out.append(f"ansi-bg-{self.bg}" if self.bg is not None else "")
        for flag in ("bold", "dim", "italic", "underline"):
            out.append(f"ansi-{flag}" if getattr(self, flag) else "")
        return " ".join(c for c in out if c)


def ansi_html(text: str, style: Style | None = None) -> Markup:
    """`text` escaped, its SGR sequences as spans of classes; `style` carries the state on."""
    style = style or Style()
    out: list[Markup] = []
    at = 0
    for found in _ESCAPE.finditer(text):
        out.append(_span(text[at : found.start()], style))
        if found.group(2) == "m":
            style.apply(found.group(1))
        at = found.end()
    out.append(_span(text[at:], style))
    return Markup("").join(out)


def _span(text: str, style: Style) -> Markup:
    if not text:
        return Markup("")
    classes = style.classes()
    if not classes:
        return escape(text)
    return Markup(f'<span class="{classes}">{escape(text)}</span>')


def plain(text: str) -> str:
    """`text` without escape sequences (what search and copy see)."""
    return _ESCAPE.sub("", text)


def _stamp_html(stamp: str, zone: ZoneInfo | None) -> Markup:
    if not stamp:
        return Markup("")
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return Markup('<span class="ts">{} </span>').format(stamp)
    utc = when.strftime("%H:%M:%S.%f")[:12]
    local = when.astimezone(zone).strftime("%H:%M:%S.%f")[:12] if zone else utc
    # f-strings over escaped values: Markup.format costs a millisecond a line
    return Markup(
        f'<span class="ts"><time datetime="{escape(stamp)}"><span class="ts-u">{escape(utc)}'
        f'</span><span class="ts-l">{escape(local)}</span></time> </span>'
    )


def line_html(
    line: Line, zone: ZoneInfo | None = None, mark: re.Pattern[str] | None = None
) -> Markup:
    """One line; `mark` highlights the matches of a search (on the text without colours)."""
    stamp, body = split_stamp(line.text)
    level = level_of(line.text)
    clipped = body[:MAX_LINE]
    if mark is not None and mark.search(plain(clipped)):
        text = _marked(plain(clipped), mark)
    else:
        text = ansi_html(clipped)
    more = (
        Markup('<span class="clip"> … ({} KB more)</span>').format((len(body) - MAX_LINE) // 1024)
        if len(body) > MAX_LINE
        else Markup("")
    )
    n, tag, ts = int(line.number), TAGS[level], _stamp_html(stamp, zone)
    return Markup(
        f'<div class="ll" id="L{n}" data-n="{n}" data-o="{int(line.offset)}" data-lvl="{level}">'
        f'<span class="tag" data-t="{tag}"></span>{ts}<span class="tx">{text}{more}</span></div>'
    )


def _marked(text: str, mark: re.Pattern[str]) -> Markup:
    out: list[Markup] = []
    at = 0
    for found in mark.finditer(text):
        if found.end() == found.start():
            continue
        out.append(escape(text[at : found.start()]))
        out.append(Markup("<mark>{}</mark>").format(found.group(0)))
        at = found.end()
    out.append(escape(text[at:]))
    return Markup("").join(out)


def lines_html(
    lines: Iterable[Line], zone: ZoneInfo | None = None, mark: re.Pattern[str] | None = None
) -> Markup:
    return Markup("").join(line_html(line, zone, mark) for line in lines)


def render_lines(
    text: str, first_line_number: int, *, offset: int = 0, zone: ZoneInfo | None = None
) -> Markup:
    """Whole lines of log `text` (numbered from `first_line_number`, its first byte at
    `offset`) as HTML; a last line without newline is rendered too."""
    lines, _ = split_lines(text.encode(), offset, first_line_number, over=True)
    return lines_html(lines, zone)
