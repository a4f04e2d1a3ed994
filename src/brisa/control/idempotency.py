"""Idempotency keys for triggers: a client that sends the same key twice for one DAG (a double
click, a retry after a lost answer) gets the run the first request created, not a second run.

Keys are remembered in this process for a bounded time and number; a replica of `brisa api`
that did not see the first request does not know its key (a retry usually reaches the same
process; the run id, when the client chooses one, is the cross-replica guard).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from brisa.errors import InvalidInput

KEEP_FOR = timedelta(hours=24)  # how long a key names its run
MAX_KEYS = 10_000  # keys remembered at once; the oldest are forgotten first
MAX_KEY_LENGTH = 200

Key = tuple[str, str, str]  # team, dag_id, client key


class IdempotencyKeys:
    """Which run each (team, DAG, key) created. `once` runs the creation under a lock, so two
    concurrent requests with the same key create one run."""

    def __init__(self, clock: Callable[[], datetime], *, keep_for: timedelta = KEEP_FOR) -> None:
        self._clock = clock
        self._keep_for = keep_for
        self._runs: OrderedDict[Key, tuple[str, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def once(self, team: str, dag_id: str, key: str, create: Callable[[], str]) -> str:
        """The run id created for this key, calling `create` (which returns a new run's id)
        only the first time the key is seen within `keep_for`."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidInput(f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters")
        with self._lock:
            now = self._clock()
            self._forget(now)
            known = self._runs.get((team, dag_id, key))
            if known is not None:
                return known[0]
            run_id = create()
            self._runs[(team, dag_id, key)] = (run_id, now)
            while len(self._runs) > MAX_KEYS:
                self._runs.popitem(last=False)
            return run_id

    def _forget(self, now: datetime) -> None:
        while self._runs:
            oldest = next(iter(self._runs.values()))
            if now - oldest[1] < self._keep_for:
                return
            self._runs.popitem(last=False)
