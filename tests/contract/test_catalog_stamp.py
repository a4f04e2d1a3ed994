"""`Store.catalog_stamp`: the scheduler lists the DAGs again only when the stamp differs, so
every change of what `list_dags` answers must change it, and nothing else may (SQLite: the
rows themselves; PostgreSQL: a count and a digest summed up by the server)."""

from __future__ import annotations

from test_store import TEAM, publish

from brisa.store import Store


def test_the_stamp_changes_with_every_change_of_the_listing_and_only_then(store: Store) -> None:
    publish(store)
    first = store.catalog_stamp()
    assert store.catalog_stamp() == first, "nothing changed"

    store.set_paused(TEAM, "etl", True)
    paused = store.catalog_stamp()
    assert paused != first
    store.set_paused(TEAM, "etl", False)
    assert store.catalog_stamp() == first, "the same catalog, the same stamp"

    publish(store, code_version="c2")
    newer = store.catalog_stamp()
    assert newer not in (first, paused), "a new commit"

    publish(store, team="other")
    assert store.catalog_stamp() != newer, "a new DAG"
    with_other = store.catalog_stamp()

    store.retire_dags("other", fileloc="etl.py", keep=())
    assert store.catalog_stamp() != with_other, "a DAG retired"
