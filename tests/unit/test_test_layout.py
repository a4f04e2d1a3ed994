"""The test suite itself: pytest imports test modules by their file name (the test folders are
not packages), so two test files of one name in different tiers break collection of the
whole suite. This keeps every name unique."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_file_name() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
