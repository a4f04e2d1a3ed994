"""The parse outcome per commit (`Store.record_commit_parse`, `commit_parses`,
`commit_parses_since`): stored with its lists, read newest first per repository, a commit
parsed again replaces its row; on SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from brisa.store import Store
from brisa.store.commitparses import CommitParse

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def parse(sha: str, minutes: int, repo: str = "forge", **lists: object) -> CommitParse:
    return CommitParse(repo, sha, "analytics", NOW + timedelta(minutes=minutes), 2, **lists)  # type: ignore[arg-type]


def test_outcomes_are_kept_per_commit_and_read_newest_first(store: Store) -> None:
    error = {"file": "broken.py", "lineno": 3, "message": "SyntaxError"}
    store.record_commit_parse(parse("a" * 40, 0, added=["x", "y"], errors=[error]))
    store.record_commit_parse(parse("b" * 40, 1, changed=["x"], resolved=["broken.py"]))
    store.record_commit_parse(parse("c" * 40, 2, repo="other", removed=["z"]))

    found = store.commit_parses("forge")
    assert [p.code_version for p in found] == ["b" * 40, "a" * 40]
    assert found[1].added == ["x", "y"] and found[1].errors == [error]
    assert found[0].changed == ["x"] and found[0].resolved == ["broken.py"]
    assert found[0].parsed_at == NOW + timedelta(minutes=1)
    assert store.commit_parses("forge", limit=1)[0].code_version == "b" * 40

    store.record_commit_parse(parse("a" * 40, 3, added=["x"]))  # parsed again: replaced
    assert [(p.code_version, p.added) for p in store.commit_parses("forge")] == [
        ("a" * 40, ["x"]),
        ("b" * 40, []),
    ]
    since = store.commit_parses_since(NOW + timedelta(minutes=1))
    assert [p.code_version for p in since] == ["a" * 40, "c" * 40, "b" * 40]
    assert [p.repo for p in store.commit_parses_since(NOW, ["other"])] == ["other"]
