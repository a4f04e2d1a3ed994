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

# Several schedulers do not coordinate before leases, fencing and adoption land (issue 13,
# H1-H3): a scheduler judges attempts it did not launch as lost and ends them while their
# workers still run, so results are lost and tasks fail. Flip to a plain test with them.
pytestmark = [
    pytest.mark.chaos,
    pytest.mark.xfail(
        strict=False,
        reason="no scheduler leases, fencing or adoption yet: schedulers end each other's "
        "running attempts (lost results)",
    ),
]

SHORT = Config(
    duration=60.0,
    tasks=150,
    gap=(3.0, 6.0),
    # How long a SIGSTOP outlasts: set the schedulers' lease TTL to this through
    # `scheduler_env` once it is a setting, so that a stopped scheduler loses its lease.
    lease_ttl=5.0,
    settle=40.0,
)


def test_three_schedulers_under_faults_start_each_attempt_once_and_finish_every_task() -> None:
    result = run(SHORT)
    print(result.render())
    assert result.triggered > 0
    assert sum(result.faults.values()) > 0
    assert result.violations == []
    assert result.finished_after is not None
