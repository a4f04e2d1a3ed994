"""The chaos suite's checker on hand-made histories: a clean one passes, and each kind of
violation is found and named."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from brisa.core.records import TransitionRecord
from brisa.testing.chaos.checker import (
    Execution,
    check,
    double_executions,
    double_starts,
    illegal_moves,
    last_finish,
    parse_witness,
    pool_oversubscription,
    pool_peaks,
    unfinished,
    unrecorded_executions,
)

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class History:
    """Moves appended in commit order, with ids and database times as the store gives them."""

    def __init__(self) -> None:
        self.moves: list[TransitionRecord] = []
        self._ids = itertools.count(1)

    def move(self, ti: int, try_number: int, path: str, actor: str = "scheduler:a") -> History:
        """`path`: states separated by '>', e.g. 'pending>queued>running'."""
        states = path.split(">")
        for source, target in itertools.pairwise(states):
            n = next(self._ids)
            self.moves.append(
                TransitionRecord(
                    n, ti, try_number, source, target, actor, 1, T0 + timedelta(seconds=n)
                )
            )
        return self


def clean() -> History:
    return (
        History()
        .move(1, 1, "pending>queued>running")
        .move(2, 1, "pending>queued")
        .move(1, 1, "running>up_for_retry")
        .move(2, 1, "queued>running>success")
        .move(1, 2, "up_for_retry>queued>running>success")
        .move(3, 0, "pending>upstream_failed")
    )


def test_a_clean_history_has_no_violation() -> None:
    moves = clean().moves
    executions = [Execution(1, 1, 10), Execution(2, 1, 11, True), Execution(1, 2, 12, True)]
    states = {1: "success", 2: "success", 3: "upstream_failed"}
    pools = {"p": 2}
    assert check(moves, executions, states, slots=pools, pool_of=dict.fromkeys(states, "p")) == []
    assert last_finish(moves) == moves[-1].at  # task 3 finished last


def test_a_second_start_of_the_same_try_is_found() -> None:
    # Two schedulers both relaunched try 1 after a lost worker and both workers started.
    moves = History().move(1, 1, "pending>queued>running>queued>running>success").moves
    (violation,) = double_starts(moves)
    assert violation.kind == "double start" and violation.ti_id == 1
    assert "started 2 times" in violation.detail
    # The same move pattern on two different tries is fine.
    ok = (
        History()
        .move(1, 1, "pending>queued>running>up_for_retry")
        .move(1, 2, "up_for_retry>queued>running")
    )
    assert double_starts(ok.moves) == []


def test_a_second_execution_of_the_same_try_is_found() -> None:
    ti_of = {("manual__1", "a"): 1, ("manual__1", "b"): 2, ("manual__2", "a"): 3}
    text = (
        "manual__1,a,1,100,start\nmanual__1,b,1,101,start\nmanual__1,a,1,100,end\n"
        "manual__1,a,1,102,start\nmanual__1,a,2,103,start\n"
        "manual__2,a,1,104,sta"  # a torn last line
    )
    executions = parse_witness(text, ti_of)
    assert sorted(executions, key=lambda e: (e.ti_id, e.try_number, e.pid)) == [
        Execution(1, 1, 100, finished=True),
        Execution(1, 1, 102),
        Execution(1, 2, 103),
        Execution(2, 1, 101),
    ]
    (violation,) = double_executions(executions)
    assert violation.ti_id == 1 and "[100, 102]" in violation.detail


def test_code_that_ran_unstarted_or_whose_result_was_lost_is_found() -> None:
    moves = (
        History()
        .move(1, 1, "pending>queued>running")
        .move(1, 1, "running>up_for_retry", actor="scheduler:b")  # judged lost
        .move(1, 2, "up_for_retry>queued>running", actor="worker")
        .move(1, 2, "running>success", actor="worker")
        .move(2, 1, "pending>queued")
        .moves
    )
    executions = [
        Execution(1, 1, 100, finished=True),  # its result never counted
        Execution(1, 2, 101, finished=True),
        Execution(2, 1, 102),  # ran while the record says queued
    ]
    found = unrecorded_executions(moves, executions)
    assert [(v.kind, v.ti_id) for v in found] == [("lost result", 1), ("unrecorded execution", 2)]
    assert "scheduler:b moved it running -> up_for_retry" in found[0].detail
    # A worker killed half way (no end) whose attempt is judged lost is not a lost result.
    assert unrecorded_executions(moves, [Execution(1, 1, 100)]) == []


def test_a_move_the_table_forbids_is_found() -> None:
    moves = History().move(1, 1, "pending>queued>running>success>running").moves
    kinds = [v.kind for v in illegal_moves(moves)]
    assert kinds == ["illegal move"]


def test_a_move_that_starts_elsewhere_than_the_last_one_ended_is_found() -> None:
    # A stale decision recorded as if the task were still queued after it had run.
    moves = History().move(1, 1, "pending>queued>running").move(1, 1, "queued>cancelled").moves
    (violation,) = illegal_moves(moves)
    assert violation.kind == "broken history"
    assert "from queued, but its previous move left it running" in violation.detail


def test_tasks_not_finished_at_the_end_are_found() -> None:
    found = unfinished({1: "success", 2: "running", 3: "up_for_retry", 4: "cancelled"})
    assert [(v.ti_id, v.detail) for v in found] == [
        (2, "task instance 2 is still running"),
        (3, "task instance 3 is still up_for_retry"),
    ]


def test_a_pool_over_its_slots_is_found_and_no_pool_means_no_check() -> None:
    moves = (
        History()
        .move(1, 1, "pending>queued")
        .move(2, 1, "pending>queued>running")
        .move(1, 1, "queued>running>success")  # frees its slot
        .move(3, 1, "pending>queued")  # 2 held: fine
        .move(4, 1, "pending>queued")  # 3 held for 2 slots
        .moves
    )
    pool_of = dict.fromkeys([1, 2, 3, 4], "etl")
    (violation,) = pool_oversubscription(moves, {"etl": 2}, pool_of)
    assert violation.ti_id == 4 and "held 3 tasks for 2 slots" in violation.detail
    assert pool_oversubscription(moves, {"etl": 3}, pool_of) == []
    assert pool_oversubscription(moves, {}, pool_of) == []
    assert pool_peaks(moves, pool_of) == {"etl": 3}
    assert pool_peaks(moves, {1: "etl", 2: "gpu"}) == {"etl": 1, "gpu": 1}
