"""Liveness and readiness: what each process checks, and the JSON it answers with.

- **Liveness** (`/health/live`): the process's loops come round. Each loop beats on every
  turn (a scheduling pass, a DAG source's pass or wait); a loop whose last beat is older than
  `[metrics] stall_timeout` is stalled, and the process should be restarted.
- **Readiness** (`/health/ready`): the process can do its work now: the database answers,
  its schema is the one this code needs, and per process what else it needs (the API: the
  object store configured). A process that is not ready is alive; it waits, it is not
  restarted.

Each answer lists every check with its result and says what went wrong in words; 200 when all
pass, 503 otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

MAX_DETAIL = 300  # characters of an error quoted in a check's detail


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def answer(checks: Iterable[Check]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of a health endpoint."""
    done = list(checks)
    ok = all(c.ok for c in done)
    body = {"status": "ok" if ok else "failing", "checks": [asdict(c) for c in done]}
    return (200 if ok else 503), body


def reason(exc: BaseException) -> str:
    """The first line of an error, cut short (a driver's message may run on for lines)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."


class Heartbeats:
    """When each loop of the process last came round (monotonic seconds)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def beat(self, loop: str) -> None:
        with self._lock:
            self._last[loop] = self._monotonic()

    def checks(self, stall_timeout: float) -> list[Check]:
        now = self._monotonic()
        with self._lock:
            last = sorted(self._last.items())
        return [_liveness(loop, now - at, stall_timeout) for loop, at in last]


def _liveness(loop: str, age: float, stall_timeout: float) -> Check:
    if age > stall_timeout:
        detail = (
            f"stalled: last came round {age:.0f}s ago, longer than [metrics] stall_timeout "
            f"({stall_timeout:g}s)"
        )
        return Check(loop, False, detail)
    return Check(loop, True, f"came round {age:.1f}s ago")


class SchemaSource(Protocol):
    def ping(self) -> None: ...

    @property
    def backend(self) -> str: ...

    def schema_revisions(self) -> tuple[str | None, str]: ...


def database_checks(store: Callable[[], SchemaSource]) -> list[Check]:
    """The database answers, and its schema is at the revision this code needs."""
    started = time.perf_counter()
    try:
        db = store()
        db.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to answer is reported
        return [
            Check("database", False, f"the database is unreachable: {reason(exc)}"),
            Check("schema", False, "not checked: the database is unreachable"),
        ]
    answered = Check(
        "database",
        True,
        f"{db.backend} answered in {(time.perf_counter() - started) * 1000:.1f} ms",
    )
    try:
        current, head = db.schema_revisions()
    except Exception as exc:  # noqa: BLE001 - reported as the check's result
        return [answered, Check("schema", False, f"could not read the revision: {reason(exc)}")]
    if current == head:
        return [answered, Check("schema", True, f"at revision {head}, the newest")]
    detail = (
        f"the database is at revision {current or 'none'}, this Brisa needs {head}: "
        "run `brisa db migrate` (or, if the database is the newer one, upgrade this process)"
    )
    return [answered, Check("schema", False, detail)]


def configured(name: str, describe: Callable[[], str]) -> Callable[[], Check]:
    """A check that something is configured: `describe()` names it, or raises saying why not."""

    def check() -> Check:
        try:
            return Check(name, True, describe())
        except Exception as exc:  # noqa: BLE001 - reported as the check's result
            return Check(name, False, reason(exc))

    return check
