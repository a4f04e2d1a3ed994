"""Attempt logs are read back in pages by byte offset."""

from pathlib import Path

from brisa.logs import attempt_log_path, read_log


def test_paths_are_per_attempt_and_safe(tmp_path: Path) -> None:
    path = attempt_log_path(tmp_path, "t", "d", "manual__2026-01-01T00:00:00+00:00", "x", 2)
    assert path == tmp_path / "t/d/manual__2026-01-01T00:00:00+00:00/x/attempt=2.log"
    escaped = attempt_log_path(tmp_path, "t", "d", "../../etc", "x", 1)
    assert tmp_path in escaped.parents and ".." not in escaped.parts
    dots = attempt_log_path(tmp_path, "..", "..", "..", "..", 1)
    assert ".." not in dots.parts and tmp_path in dots.parents


def test_read_by_offset_follows_a_growing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    assert read_log(path, 0) == ("", 0)  # not written yet
    path.write_text("one\ntwo\n")
    text, offset = read_log(path, 0)
    assert (text, offset) == ("one\ntwo\n", 8)
    with path.open("a") as f:
        f.write("three\n")
    assert read_log(path, offset) == ("three\n", 14)


def test_pages_end_on_a_line_boundary(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("αβγ\n" * 100)
    text, offset = read_log(path, 0, limit=50)
    assert text.endswith("\n") and "\ufffd" not in text
    rest, end = read_log(path, offset)
    assert text + rest == "αβγ\n" * 100 and end == path.stat().st_size
