"""Which files the DAG processor looks at, and which of them it parses again.

`diff` is pure; `scan` and `looks_like_dag_file` only stat and read files in a tmp folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from brisa.dagprocessor.processor import diff, looks_like_dag_file, scan


def touch(root: Path, rel: str, text: str = "import brisa\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- scan --------------------------------------------------------------------------------------


def test_scan_lists_python_files_recursively_by_relative_path_with_mtime_and_size(
    tmp_path: Path,
) -> None:
    top = touch(tmp_path, "etl.py", "x = 1\n")
    nested = touch(tmp_path, "team/reports/daily.py", "import brisa\n")
    os.utime(top, ns=(1_000, 123_456_789))

    found = scan(tmp_path)

    assert found == {
        "etl.py": (123_456_789, 6),
        os.path.join("team", "reports", "daily.py"): (nested.stat().st_mtime_ns, 13),
    }


def test_scan_skips_hidden_and_private_files_and_folders_and_non_python_files(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "etl.py")
    for rel in (
        ".hidden.py",
        "_private.py",
        "__init__.py",
        ".git/hooks/x.py",
        "_lib/helpers.py",
        "__pycache__/etl.py",
        "team/.cache/x.py",
        "team/_wip/x.py",
        "notes.txt",
        "etl.pyc",
        "etl.py.bak",
    ):
        touch(tmp_path, rel)
    touch(tmp_path, "team/ok.py")

    assert sorted(scan(tmp_path)) == ["etl.py", os.path.join("team", "ok.py")]


def test_scan_of_an_empty_or_missing_folder_finds_nothing(tmp_path: Path) -> None:
    assert scan(tmp_path) == {}
    assert scan(tmp_path / "missing") == {}


def test_scan_sees_a_rewrite_of_the_same_size_through_the_mtime(tmp_path: Path) -> None:
    path = touch(tmp_path, "etl.py", "a = 1\n")
    before = scan(tmp_path)
    path.write_text("b = 2\n")
    bumped = before["etl.py"][0] + 1_000_000_000
    os.utime(path, ns=(bumped, bumped))

    after = scan(tmp_path)

    assert after["etl.py"] == (bumped, before["etl.py"][1])
    assert diff(before, after) == (["etl.py"], [])


# --- diff --------------------------------------------------------------------------------------


def test_diff_of_identical_states_is_empty() -> None:
    state = {"a.py": (1, 10), "b.py": (2, 20)}
    assert diff(state, dict(state)) == ([], [])
    assert diff({}, {}) == ([], [])


def test_diff_reports_new_and_changed_files_to_parse_and_gone_files_sorted() -> None:
    previous = {
        "same.py": (1, 10),
        "newer.py": (1, 10),
        "bigger.py": (1, 10),
        "z_gone.py": (1, 10),
        "a_gone.py": (1, 10),
    }
    current = {
        "same.py": (1, 10),
        "newer.py": (2, 10),
        "bigger.py": (1, 11),
        "b_new.py": (5, 50),
        "a_new.py": (5, 50),
    }

    assert diff(previous, current) == (
        ["a_new.py", "b_new.py", "bigger.py", "newer.py"],
        ["a_gone.py", "z_gone.py"],
    )


def test_diff_from_nothing_parses_everything_and_to_nothing_drops_everything() -> None:
    state = {"b.py": (1, 10), "a.py": (2, 20)}
    assert diff({}, state) == (["a.py", "b.py"], [])
    assert diff(state, {}) == ([], ["a.py", "b.py"])


def test_diff_treats_an_older_mtime_as_a_change() -> None:
    # A checkout of an older commit can move a file's mtime backwards.
    assert diff({"a.py": (5, 10)}, {"a.py": (4, 10)}) == (["a.py"], [])


# --- looks_like_dag_file -----------------------------------------------------------------------


def test_only_files_mentioning_brisa_look_like_dag_files(tmp_path: Path) -> None:
    assert looks_like_dag_file(touch(tmp_path, "a.py", "from brisa import DAG\n"))
    assert looks_like_dag_file(touch(tmp_path, "b.py", "# runs on brisa\nimport os\n"))
    assert not looks_like_dag_file(touch(tmp_path, "c.py", "import airflow\n"))
    assert not looks_like_dag_file(touch(tmp_path, "d.py", ""))
    assert not looks_like_dag_file(tmp_path / "missing.py")
    assert not looks_like_dag_file(tmp_path)  # a folder cannot be read: not a DAG file
