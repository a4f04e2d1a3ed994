"""Log lines for the event stream, in batches (UI.md A.3-3): whole lines only, at most
`MAX_LINES` per batch, each batch knowing the byte offset and line number after it, so that a
stream resumed from that position shows no line twice and loses none.

Pure: the stream feeds it what the log follower read and takes batches out; when to flush
(every `FLUSH_EVERY` seconds) is the stream's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from brisa.web.ui.logtext import render_lines

MAX_LINES = 500
FLUSH_EVERY = 0.25


@dataclass(frozen=True)
class Batch:
    html: Markup
    offset: int  # byte offset after the batch's last line
    next_line: int  # the number the line after the batch gets
    lines: int


@dataclass
class LogBatcher:
    offset: int  # byte offset of the first byte not sent yet
    next_line: int = 1
    _lines: list[str] = field(default_factory=list)
    _partial: str = ""
    _unterminated: bool = False  # the last line has no newline (the log ended without one)

    def feed(self, text: str) -> None:
        parts = (self._partial + text).split("\n")
        self._partial = parts.pop()
        self._lines.extend(parts)

    def finish(self) -> None:
        """The log is over: a last line without a newline counts as a line."""
        if self._partial:
            self._lines.append(self._partial)
            self._partial, self._unterminated = "", True

    @property
    def waiting(self) -> int:
        return len(self._lines)

    def batches(self) -> list[Batch]:
        out = []
        while self._lines:
            lines, self._lines = self._lines[:MAX_LINES], self._lines[MAX_LINES:]
            text = "\n".join(lines) + "\n"
            html = render_lines(text, self.next_line)
            # Bytes as the log holds them (the follower decodes whole UTF-8 characters).
            self.offset += len(text.encode())
            if self._unterminated and not self._lines:
                self.offset -= 1
            self.next_line += len(lines)
            out.append(Batch(html, self.offset, self.next_line, len(lines)))
        return out
