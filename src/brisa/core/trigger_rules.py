"""Whether a task may start, given the states of its upstream tasks.

`evaluate(rule, upstream_states)` returns one of READY, WAIT, SKIP, UPSTREAM_FAILED.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum

from brisa.core.states import FINISHED_TASK_STATES, TaskState


class TriggerRule(StrEnum):
    ALL_SUCCESS = "all_success"
    ALL_DONE = "all_done"
    ALL_FAILED = "all_failed"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"


class Verdict(StrEnum):
    READY = "ready"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


T = TaskState
_FAILED = (T.FAILED, T.UPSTREAM_FAILED)


_STOPS = frozenset({T.FAILED, T.UPSTREAM_FAILED, T.CANCELLED})  # all_success's failures


def evaluate(rule: TriggerRule | str, upstream: Iterable[TaskState]) -> Verdict:
    if rule == TriggerRule.ALL_SUCCESS:  # the default, judged for pending tasks every pass
        return _all_success(list(upstream))
    return _counted(TriggerRule(rule), list(upstream))


def _all_success(states: list[TaskState]) -> Verdict:
    """`all_success` without counting: `_counted`'s answer for it (a failure wins over a
    skip; ready once every upstream succeeded)."""
    if any(s in _STOPS for s in states):
        return Verdict.UPSTREAM_FAILED
    if T.SKIPPED in states:
        return Verdict.SKIP
    return Verdict.READY if all(s == T.SUCCESS for s in states) else Verdict.WAIT


def _counted(rule: TriggerRule, states: list[TaskState]) -> Verdict:  # noqa: C901
    if not states or rule is TriggerRule.ALWAYS:
        return Verdict.READY
    n = Counter(states)
    done = sum(n[s] for s in FINISHED_TASK_STATES)
    all_done = done == len(states)
    success, skipped = n[T.SUCCESS], n[T.SKIPPED]
    failed = n[T.FAILED] + n[T.UPSTREAM_FAILED] + n[T.CANCELLED]
    match rule:
        case TriggerRule.ALL_SUCCESS:
            if failed:
                return Verdict.UPSTREAM_FAILED
            if skipped:
                return Verdict.SKIP
            return Verdict.READY if all_done else Verdict.WAIT
        case TriggerRule.ALL_DONE:
            return Verdict.READY if all_done else Verdict.WAIT
        case TriggerRule.ALL_FAILED:
            if success or skipped:
                return Verdict.SKIP
            return Verdict.READY if all_done else Verdict.WAIT
        case TriggerRule.ONE_SUCCESS:
            if success:
                return Verdict.READY
            if all_done:
                return Verdict.UPSTREAM_FAILED if failed else Verdict.SKIP
            return Verdict.WAIT
        case TriggerRule.ONE_FAILED:
            if failed:
                return Verdict.READY
            return Verdict.SKIP if all_done else Verdict.WAIT
        case TriggerRule.ONE_DONE:
            if success or failed:
                return Verdict.READY
            return Verdict.SKIP if all_done else Verdict.WAIT
        case TriggerRule.NONE_FAILED:
            if failed:
                return Verdict.UPSTREAM_FAILED
            return Verdict.READY if all_done else Verdict.WAIT
        case TriggerRule.NONE_SKIPPED:
            if skipped:
                return Verdict.SKIP
            return Verdict.READY if all_done else Verdict.WAIT
    raise AssertionError(f"unhandled trigger rule {rule}")
