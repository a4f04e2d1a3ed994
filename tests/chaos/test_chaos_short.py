"""The short chaos run inside `make test`: 3 schedulers, an API and a DAG processor on a
PostgreSQL of the test's own, runs triggered through the REST API for a minute while faults
are injected at random (SIGKILL or SIGSTOP of a scheduler, database connections cut, the
database restarted), then every check of `brisa.testing.chaos.checker` over the transition
record and the tasks' witness file. `make chaos` is the long version.

Bounded: every process is SIGKILLed at the end whatever happens, every wait has a deadline,
and only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import pytest

from brisa.testing.chaos.run import Config, run

pytestmark = [pytest.mark.chaos]

SHORT = Config(
    duration=60.0,
    tasks=150,
    gap=(3.0, 6.0),
    # The schedulers' lease TTL; a SIGSTOP lasts 2 s longer, so a stopped scheduler loses it.
    lease_ttl=5.0,
    settle=40.0,
)


def test_three_schedulers_under_faults_start_each_attempt_once_and_finish_every_task() -> None:
    result = run(SHORT)
    print(result.render())
    assert result.triggered > 0
    assert sum(result.faults.values()) > 0
    assert result.violations == []
    # The middle tasks' pool was full at some point: its check had something to catch.
    assert result.pool_peak == result.pool_slots > 0
    assert result.finished_after is not None
