"""Deleting old rows of the audit record and of the commit parses in bounded batches
(`Store.prune_audit`, `Store.prune_commit_parses`) and the retention job over them
(`brisa.pruning`), on SQLite and PostgreSQL (see conftest): the oldest go first, a batch
never deletes more than asked, the newest parse of each repository, its current commit and
its DAGs' commits stay."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.metrics.instruments import Metrics
from brisa.opssettings import RetentionSettings
from brisa.pruning import RecordRetention
from brisa.store import Store
from brisa.store.audit import AuditFilter
from brisa.store.commitparses import CommitParse

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def audit(store: Store, days_ago: int) -> int:
    return store.record_audit(
        at=NOW - timedelta(days=days_ago), actor="api", address="127.0.0.1", via="rest",
        action="pause", team="data", target="data/etl", outcome="ok",
    )  # fmt: skip


def parse(store: Store, repo: str, n: int) -> str:
    """Commit `n` of `repo`, parsed `n` minutes after NOW (higher: newer)."""
    sha = f"{n:040x}"
    store.record_commit_parse(
        CommitParse(repo, sha, "data", NOW + timedelta(minutes=n), files_parsed=1)
    )
    return sha


def kept(store: Store, repo: str) -> list[str]:
    return [p.code_version for p in store.commit_parses(repo, limit=100)]


def test_old_audit_entries_go_oldest_first_in_bounded_batches(store: Store) -> None:
    old = [audit(store, days) for days in (40, 39, 38, 31)]
    recent = [audit(store, days) for days in (29, 1)]
    before = NOW - timedelta(days=30)
    assert store.prune_audit(before, 3) == 3
    left = [e.id for e in store.audit_entries(AuditFilter(), 10)]
    assert left == [*reversed(recent), old[3]]
    assert store.prune_audit(before, 3) == 1
    assert store.prune_audit(before, 3) == 0
    assert [e.id for e in store.audit_entries(AuditFilter(), 10)] == list(reversed(recent))


def test_commit_parses_keep_the_newest_and_the_commits_in_use(store: Store) -> None:
    shas = [parse(store, "forge", n) for n in range(8)]
    other = [parse(store, "other", n) for n in range(2)]
    # The repository's current commit and a DAG's commit are old, and stay.
    store.record_sync("forge", team="data", url="file:///forge", sha=shas[1], published=True,
                      error=None, kind=None, now=NOW)  # fmt: skip
    with DAG("etl") as dag:
        shell("a", "true")
    store.publish_dag("data", serialize(dag, "etl.py"), fileloc="etl.py", code_version=shas[0],
                      now=NOW, repo="forge")  # fmt: skip
    assert store.commit_parse_counts() == {"forge": 8, "other": 2}

    assert store.prune_commit_parses("forge", 3, 2) == 2  # the oldest not in use: 2 and 3
    assert kept(store, "forge") == [shas[n] for n in (7, 6, 5, 4, 1, 0)]
    assert store.prune_commit_parses("forge", 3, 2) == 1  # 4; 5-7 are the newest three
    assert store.prune_commit_parses("forge", 3, 2) == 0
    assert kept(store, "forge") == [shas[n] for n in (7, 6, 5, 1, 0)]
    assert store.prune_commit_parses("forge", 1, 10) == 2  # 5 and 6; 7 is the newest
    assert kept(store, "forge") == [shas[n] for n in (7, 1, 0)]
    assert kept(store, "other") == list(reversed(other))
    assert store.prune_commit_parses("nothing", 1, 10) == 0


def test_a_commit_parsed_again_is_the_newest_and_stays(store: Store) -> None:
    shas = [parse(store, "forge", n) for n in range(4)]
    store.record_commit_parse(CommitParse("forge", shas[0], "data", NOW + timedelta(hours=1), 1))
    assert store.prune_commit_parses("forge", 1, 10) == 3
    assert kept(store, "forge") == [shas[0]]


def test_the_job_deletes_past_both_limits_over_several_runs(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Bounded: at most `max_batches` of `batch` rows per table a run; what it deleted is
    counted by table and logged."""
    for days in (50, 45, 44, 43, 2):
        audit(store, days)
    for n in range(7):
        parse(store, "forge", n)
    parse(store, "other", 0)
    settings = RetentionSettings(audit_days=30, commit_parses_per_repo=2)
    metrics = Metrics()
    job = RecordRetention(lambda: store, settings, clock=lambda: NOW, metrics=metrics.retention,
                          batch=2, max_batches=1)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="brisa.pruning"):
        first = job.run()
    assert (first.audit_log, first.commit_parses, first.more) == (2, 2, True)
    assert "deleted 2 audit entries (older than 30 days) and 2 parsed commits" in caplog.text
    assert "more are left for the next run" in caplog.text
    second = job.run()
    assert (second.audit_log, second.commit_parses, second.more) == (2, 2, True)
    third = job.run()
    assert (third.audit_log, third.commit_parses, third.more) == (0, 1, False)
    assert len(store.audit_entries(AuditFilter(), 10)) == 1
    assert store.commit_parse_counts() == {"forge": 2, "other": 1}
    assert job.run() == type(third)()  # nothing left

    def deleted(table: str) -> float | None:
        return metrics.registry.get_sample_value(
            "brisa_retention_deleted_rows_total", {"table": table}
        )

    assert (deleted("audit_log"), deleted("commit_parses")) == (4, 5)
