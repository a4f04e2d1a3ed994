"""The live log's end waits for the try's outcome (web/ui/logview.until_decided)."""

from __future__ import annotations

from brisa.logs import tail
from brisa.web.ui.logview import until_decided


def test_the_end_is_held_back_until_the_outcome_is_stored() -> None:
    answers = iter([False, False, True])
    waits: list[float] = []
    end = tail.End(1, 10)
    chunk = tail.Chunk(1, "a\n", 2)
    events = list(until_decided([chunk, end], lambda: next(answers), wait=waits.append))
    assert events == [chunk, None, None, end] and waits == [0.5, 0.5]


def test_the_end_comes_anyway_after_the_limit() -> None:
    waits: list[float] = []
    end = tail.End(1, 10)
    events = list(until_decided([end], lambda: False, wait=waits.append, limit=2.0))
    assert events[-1] is end and len(waits) == 4
