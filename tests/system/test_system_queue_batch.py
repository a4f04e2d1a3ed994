"""`[scheduler] queue_batch`: one scheduling pass queues at most that many tasks (one
transaction); the others are queued by the passes that follow, and every task runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brisa import DAG, shell
from system.inprocess import InProcess


@pytest.fixture
def brisa(tmp_path: Path) -> Iterator[InProcess]:
    system = InProcess(tmp_path / "home", settings={"BRISA__SCHEDULER__QUEUE_BATCH": "2"})
    try:
        yield system
    finally:
        system.close()


def queued_or_later(brisa: InProcess) -> int:
    return sum(state != "pending" for state, _ in brisa.states("wide").values())


def test_a_pass_queues_at_most_the_batch_and_the_next_passes_the_rest(brisa: InProcess) -> None:
    with DAG("wide") as dag:
        for n in range(5):
            shell(f"t{n}", "true")
    brisa.publish(dag)
    brisa.trigger("wide")

    counts = []
    for _ in range(4):
        brisa.scheduler.run_once()  # the workers do not play: nothing frees a slot
        counts.append(queued_or_later(brisa))
    assert counts[-1] == 5
    assert all(b - a <= 2 for a, b in zip([0, *counts], counts, strict=False)), counts

    brisa.settle()
    assert {state for state, _ in brisa.states("wide").values()} == {"success"}
