"""At most `limit` open event streams per user (UI.md A.1-5): the 9th gets 429.

Until users land the key is the client's address, so tabs of different people behind one
proxy share the limit; with users it becomes the user id (`web/ui/access.py`).
"""

from __future__ import annotations

import threading
from collections import Counter

LIMIT = 8
RETRY_AFTER = 30  # seconds a refused page waits (it polls meanwhile) before trying again


class StreamSlots:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Hold one of `key`'s slots; False when all are held."""
        with self._lock:
            if self._open[key] >= self.limit:
                return False
            self._open[key] += 1
            return True

    def give_back(self, key: str) -> None:
        with self._lock:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def held(self, key: str) -> int:
        with self._lock:
            return self._open[key]
