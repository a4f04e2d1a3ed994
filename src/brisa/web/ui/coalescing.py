"""Coalescing invalidations: at most one event per topic per `interval` on one stream
(UI.md A.1-3). Pure: the stream feeds it changes and the time, and asks what is due.

The first change of a quiet topic waits `settle` for the changes that usually follow it at
once, then goes out; changes that come later within `interval` of that event are merged into
one event, sent when the interval is over. An event always carries the newest version, so the
last change of a burst is never lost, only merged.

Why `settle`: one step of a run is several changes in quick succession, each its own
transaction (a task's success from the worker, the scheduler queueing the next task, the next
worker starting it: measured 20-40 ms apart on a standalone). Sent "first at once", the first
went out alone and the rest a second later, two refreshes per step (W10's live grid: 57
requests a minute for a task ending every 2 s, against A.5's 30). Settling first sends the
step as one event. It is a fixed delay from the first change, not a debounce: a topic that
changes without pause still gets an event every `interval`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INTERVAL = 1.0
# Long enough for a step's changes (tens of ms; a loaded machine stretches them), short enough
# that a lone change still reaches the page well within A.5's 1.5 s.
SETTLE = 0.3


@dataclass
class Coalescer:
    interval: float = INTERVAL
    settle: float = SETTLE
    _sent_at: dict[str, float] = field(default_factory=dict)
    _pending: dict[str, int] = field(default_factory=dict)
    _first_at: dict[str, float] = field(default_factory=dict)  # of what is pending

    def add(self, topic: str, version: int, now: float) -> None:
        self._pending[topic] = max(version, self._pending.get(topic, version))
        self._first_at.setdefault(topic, now)
        self._sent_at = {t: at for t, at in self._sent_at.items() if now - at < self.interval}

    def _due_at(self, topic: str) -> float:
        """When `topic`'s pending event may go: settled, and `interval` after its last one."""
        sent = self._sent_at.get(topic)
        settled = self._first_at[topic] + self.settle
        return settled if sent is None else max(settled, sent + self.interval)

    def due(self, now: float) -> list[tuple[str, int]]:
        """The (topic, version) events to send now, oldest version first."""
        ready = [(t, v) for t, v in self._pending.items() if self._due_at(t) <= now]
        for topic, _ in ready:
            del self._pending[topic]
            del self._first_at[topic]
            self._sent_at[topic] = now
        return sorted(ready, key=lambda event: event[1])

    def oldest_pending(self) -> int | None:
        """The oldest version still held back (None when nothing waits)."""
        return min(self._pending.values()) if self._pending else None

    def next_due(self) -> float | None:
        """When the earliest held-back event is due (None when nothing waits)."""
        return min((self._due_at(topic) for topic in self._pending), default=None)
