"""Whether a task may start, given its upstream states: one table row per situation."""

from __future__ import annotations

import pytest

from brisa.authoring.dag import TriggerRule
from brisa.core.states import TaskState
from brisa.core.trigger_rules import Verdict, evaluate

T = TaskState
OK, FAIL, UFAIL, SKIP, CANCEL = T.SUCCESS, T.FAILED, T.UPSTREAM_FAILED, T.SKIPPED, T.CANCELLED
RUN, PEND, QUEUE, RETRY = T.RUNNING, T.PENDING, T.QUEUED, T.UP_FOR_RETRY

READY, WAIT, SKIPPED, UPSTREAM_FAILED = (
    Verdict.READY,
    Verdict.WAIT,
    Verdict.SKIP,
    Verdict.UPSTREAM_FAILED,
)

CASES: list[tuple[str, list[TaskState], Verdict]] = [
    # all_success: every upstream succeeded.
    ("all_success", [OK, OK], READY),
    ("all_success", [OK, RUN], WAIT),
    ("all_success", [OK, RETRY], WAIT),
    ("all_success", [OK, FAIL], UPSTREAM_FAILED),
    ("all_success", [RUN, FAIL], UPSTREAM_FAILED),  # no need to wait for the rest
    ("all_success", [OK, UFAIL], UPSTREAM_FAILED),
    ("all_success", [OK, CANCEL], UPSTREAM_FAILED),
    ("all_success", [OK, SKIP], SKIPPED),
    ("all_success", [SKIP, FAIL], UPSTREAM_FAILED),  # a failure wins over a skip
    # all_done: every upstream finished, whatever the outcome.
    ("all_done", [OK, FAIL, SKIP, UFAIL, CANCEL], READY),
    ("all_done", [FAIL, RUN], WAIT),
    ("all_done", [FAIL, QUEUE], WAIT),
    # all_failed: every upstream failed.
    ("all_failed", [FAIL, UFAIL], READY),
    ("all_failed", [FAIL, CANCEL], READY),
    ("all_failed", [FAIL, RUN], WAIT),
    ("all_failed", [FAIL, OK], SKIPPED),
    ("all_failed", [FAIL, SKIP], SKIPPED),
    ("all_failed", [RUN, OK], SKIPPED),  # already impossible: decide now
    # one_success: as soon as one upstream succeeded.
    ("one_success", [OK, RUN], READY),
    ("one_success", [OK, FAIL], READY),
    ("one_success", [FAIL, RUN], WAIT),
    ("one_success", [FAIL, SKIP], UPSTREAM_FAILED),
    ("one_success", [SKIP, SKIP], SKIPPED),
    # one_failed: as soon as one upstream failed.
    ("one_failed", [FAIL, RUN], READY),
    ("one_failed", [UFAIL, OK], READY),
    ("one_failed", [CANCEL, PEND], READY),
    ("one_failed", [OK, RUN], WAIT),
    ("one_failed", [OK, SKIP], SKIPPED),
    # one_done: as soon as one upstream succeeded or failed.
    ("one_done", [OK, RUN], READY),
    ("one_done", [FAIL, RUN], READY),
    ("one_done", [SKIP, RUN], WAIT),
    ("one_done", [SKIP, SKIP], SKIPPED),
    # none_failed: nothing failed; skipped upstreams are fine.
    ("none_failed", [OK, SKIP], READY),
    ("none_failed", [SKIP, SKIP], READY),
    ("none_failed", [OK, RUN], WAIT),
    ("none_failed", [OK, FAIL], UPSTREAM_FAILED),
    ("none_failed", [RUN, UFAIL], UPSTREAM_FAILED),
    # none_skipped: nothing skipped; failed upstreams are fine.
    ("none_skipped", [OK, FAIL], READY),
    ("none_skipped", [OK, RUN], WAIT),
    ("none_skipped", [OK, SKIP], SKIPPED),
    ("none_skipped", [RUN, SKIP], SKIPPED),
    # always: never waits.
    ("always", [RUN, PEND], READY),
    ("always", [FAIL, SKIP], READY),
]


@pytest.mark.parametrize(("rule", "upstream", "verdict"), CASES)
def test_evaluate(rule: str, upstream: list[TaskState], verdict: Verdict) -> None:
    assert evaluate(rule, upstream) is verdict
    # The order of the upstream tasks never matters.
    assert evaluate(rule, list(reversed(upstream))) is verdict


def test_every_rule_is_in_the_table() -> None:
    assert {rule for rule, _, _ in CASES} == {r.value for r in TriggerRule}


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_task_without_upstream_is_ready(rule: TriggerRule) -> None:
    assert evaluate(rule, []) is Verdict.READY


@pytest.mark.parametrize("rule", [r for r in TriggerRule if r is not TriggerRule.ALWAYS])
@pytest.mark.parametrize("unfinished", [PEND, QUEUE, RUN, RETRY])
def test_only_always_starts_while_every_upstream_is_unfinished(
    rule: TriggerRule, unfinished: TaskState
) -> None:
    assert evaluate(rule, [unfinished, unfinished]) is Verdict.WAIT


def test_accepts_a_generator_and_the_enum() -> None:
    assert evaluate(TriggerRule.ALL_SUCCESS, (s for s in [OK, OK])) is Verdict.READY


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError):
        evaluate("most_success", [OK])


def test_all_success_answers_as_the_counting_of_every_rule() -> None:
    # `all_success` (the default) is judged without counting: the same verdict for every
    # list of up to three upstream states.
    from itertools import product

    from brisa.core.trigger_rules import _counted

    for n in range(4):
        for states in product(list(TaskState), repeat=n):
            expected = _counted(TriggerRule.ALL_SUCCESS, list(states))
            assert evaluate("all_success", states) == expected, states
            assert evaluate(TriggerRule.ALL_SUCCESS, iter(states)) == expected, states
