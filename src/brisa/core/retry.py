"""How long to wait before the next try of a failed task."""

from __future__ import annotations

from typing import Any

MAX_BACKOFF_SECONDS = 24 * 3600.0


def retry_delay(task: dict[str, Any], try_number: int) -> float:
    """Seconds to wait after failed try `try_number` (1-based) before the next one.

    With exponential backoff the delay doubles each try, capped by max_retry_delay (or a day).
    """
    base = float(task.get("retry_delay") or 0.0)
    if not task.get("retry_exponential_backoff"):
        return base
    cap = float(task.get("max_retry_delay") or MAX_BACKOFF_SECONDS)
    # 2**60 seconds outgrows any cap; a bigger exponent would overflow the float.
    exponent = min(max(try_number - 1, 0), 60)
    return min(base * 2.0**exponent, cap)


def can_retry(task: dict[str, Any], try_number: int) -> bool:
    """Whether a task that failed on try `try_number` gets another try."""
    return try_number <= int(task.get("retries") or 0)
