"""The Overview's counts: runs of the last day per state, over the caller's teams."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from brisa.control.queries import Scope
from brisa.store import Store

WINDOW = timedelta(hours=24)


class Summary:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def run_counts(self, scope: Scope) -> Counter[str]:
        """How many runs of the last 24 h are in each state, in the teams `scope` sees."""
        counts: Counter[str] = Counter()
        for team, state, count in self._store.run_counts(self._clock() - WINDOW):
            if scope.sees(team):
                counts[state] += count
        return counts
