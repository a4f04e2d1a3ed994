"""Logs read by lines (logs.lines): windows both ways across block edges, numbering, levels,
search and filters, on a real local object store holding chunks or full.log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from brisa.logs import layout, lines
from brisa.logs.lines import LogFile, level_of, split_stamp
from brisa.objectstore.local import LocalObjectStore

PREFIX = layout.attempt_prefix("t", "d", "r", "task", 1)


def text(count: int) -> str:
    return "".join(
        f"2026-12-01T12:00:00.000Z row {n}{' ERROR bad' if n == 70 else ''}\n"
        for n in range(1, count + 1)
    )


@pytest.fixture(params=["chunks", "full"])
def log(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LogFile:
    monkeypatch.setattr(lines, "BLOCK", 97)  # tiny blocks: every read crosses an edge
    monkeypatch.setattr(lines, "BACK_BLOCK", 53)
    monkeypatch.setattr(lines, "_COUNTS", {})
    objects = LocalObjectStore(tmp_path)
    data = text(200).encode()
    if request.param == "full":
        objects.put(PREFIX + layout.FULL, data)
    else:
        for seq, start in enumerate(range(0, len(data), 300), 1):
            objects.put(layout.chunk_key(PREFIX, seq), data[start : start + 300])
    return LogFile(objects, PREFIX, over=True)


def test_tail_and_pages_both_ways_are_numbered_without_gaps(log: LogFile) -> None:
    tail = log.tail(50)
    assert [line.number for line in tail] == list(range(151, 201))
    assert tail[0].text.endswith("row 151")
    earlier = log.before(tail[0].offset, 60)
    assert [line.number for line in earlier] == list(range(91, 151))
    later = log.after(earlier[0].offset, 5)
    assert [line.text.split()[-1] for line in later] == ["91", "92", "93", "94", "95"]
    assert log.before(earlier[0].offset, 1000)[0].number == 1


def test_offsets_line_starts_and_numbers_agree(log: LogFile) -> None:
    line = log.after(0, 200)[41]
    assert log.number_at(line.offset) == 42
    assert log.line_start(line.offset + 5) == line.offset
    assert log.offset_of(42) == line.offset
    assert log.offset_of(10_000) == log.size


def test_level_search_and_filter_cover_the_whole_log(log: LogFile) -> None:
    first = log.first("error")
    assert first is not None and first.number == 70
    found, total = log.search(re.compile("row 1[0-9]?$", re.MULTILINE), "debug")
    assert total == 11 and [m.number for m in found][:3] == [1, 10, 11]
    kept, more = log.filtered(0, 10, "warning")
    assert [line.number for line in kept] == [70] and more is None


def test_an_unfinished_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path)
    objects.put(layout.chunk_key(PREFIX, 1), b"one\ntwo\nthr")
    growing = LogFile(objects, PREFIX, over=False)
    assert [line.text for line in growing.tail(10)] == ["one", "two"]
    assert [line.text for line in LogFile(objects, PREFIX, over=True).tail(10)] == [
        "one",
        "two",
        "thr",
    ]


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2026-12-01T12:00:00.000Z Traceback (most recent call last):", "error"),
        ("ValueError: boom", "error"),
        ("2026-12-01T12:00:00.000Z 12:00 WARNING disk", "warning"),
        ("DEBUG x=1", "debug"),
        ("an ERRORless line", "info"),
    ],
)
def test_levels_are_inferred_from_words(line: str, level: str) -> None:
    assert level_of(line) == level


def test_stamp_is_split_from_the_text() -> None:
    assert split_stamp("2026-12-01T12:00:00.123Z hello") == ("2026-12-01T12:00:00.123Z", "hello")
    assert split_stamp("hello") == ("", "hello")


def test_line_numbers_stay_right_as_a_counted_log_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lines, "COUNT_BLOCK", 64)  # counts remembered every 64 bytes
    monkeypatch.setattr(lines, "_COUNTS", {})
    objects = LocalObjectStore(tmp_path)
    data = text(100).encode()
    objects.put(layout.chunk_key(PREFIX, 1), data[:1000])
    first = LogFile(objects, PREFIX, over=False)
    assert first.number_at(first.line_start(900)) == data[: first.line_start(900)].count(b"\n") + 1
    objects.put(layout.chunk_key(PREFIX, 2), data[1000:])
    grown = LogFile(objects, PREFIX, over=True)
    for offset in (0, 500, 1000, 2500, grown.line_start(len(data) - 3)):
        start = grown.line_start(offset)
        assert grown.number_at(start) == data[:start].count(b"\n") + 1


def test_search_offsets_are_bytes_with_non_ascii_text(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path)
    data = "café one\nnaïve two\ncafé three ERROR\n".encode()
    objects.put(PREFIX + layout.FULL, data)
    log = LogFile(objects, PREFIX, over=True)
    found, total = log.search(re.compile("caf", re.MULTILINE))
    assert total == 2 and [m.number for m in found] == [1, 3]
    assert found[1].offset == data.index("café three".encode())
    first = log.first("error")
    assert first is not None and first.offset == found[1].offset and first.number == 3


def test_a_search_that_needs_text_still_finds_its_lines(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path)
    data = "café one\nnaïve two\nCAFÉ three\n".encode()
    objects.put(PREFIX + layout.FULL, data)
    found, total = LogFile(objects, PREFIX, over=True).search(re.compile("é", re.I | re.M))
    assert total == 2 and [m.offset for m in found] == [0, data.index("CAFÉ".encode())]


def test_the_last_error_is_found_over_the_whole_log(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path)
    data = "ok\nERROR one\n" + "row\n" * 5000 + "ERROR two\ntail\n"
    objects.put(PREFIX + layout.FULL, data.encode())
    log = LogFile(objects, PREFIX, over=True)
    last = log.last("error")
    assert last is not None and last.number == 5003 and last.text == "ERROR two"
    assert log.first("error") is not None and log.last("warning") == last
    objects.put("other/" + layout.FULL, b"quiet\n")
    assert LogFile(objects, "other/", over=True).last("error") is None
