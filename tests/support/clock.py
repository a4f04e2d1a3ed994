"""A clock the test moves by hand: seconds as `time.monotonic` gives them."""

from __future__ import annotations


class ManualClock:
    """Reads `now`; moves only when the test sets `now` or something calls `sleep`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
