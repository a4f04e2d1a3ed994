"""Coalescing invalidations: at most one event per topic per `interval` on one stream
(UI.md A.1-3). Pure: the stream feeds it changes and the time, and asks what is due.

The first change of a quiet topic goes out at once; changes that follow within `interval`
are merged into one event, sent when the interval is over and carrying the newest version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INTERVAL = 1.0


@dataclass
class Coalescer:
    interval: float = INTERVAL
    _sent_at: dict[str, float] = field(default_factory=dict)
    _pending: dict[str, int] = field(default_factory=dict)

    def add(self, topic: str, version: int, now: float) -> None:
        self._pending[topic] = max(version, self._pending.get(topic, version))
        self._sent_at = {t: at for t, at in self._sent_at.items() if now - at < self.interval}

    def due(self, now: float) -> list[tuple[str, int]]:
        """The (topic, version) events to send now, oldest version first."""
        ready = [
            (topic, version)
            for topic, version in self._pending.items()
            if now - self._sent_at.get(topic, now - self.interval) >= self.interval
        ]
        for topic, _ in ready:
            del self._pending[topic]
            self._sent_at[topic] = now
        return sorted(ready, key=lambda event: event[1])

    def oldest_pending(self) -> int | None:
        """The oldest version still held back (None when nothing waits)."""
        return min(self._pending.values()) if self._pending else None

    def next_due(self) -> float | None:
        """When the earliest held-back event is due (None when nothing waits)."""
        waits = [self._sent_at.get(topic, 0.0) + self.interval for topic in self._pending]
        return min(waits) if waits else None
