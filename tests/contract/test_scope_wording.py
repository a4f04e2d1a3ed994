"""A team the caller cannot see must read exactly like one that does not exist: the scope's
NotFound messages are the store's own words for a missing DAG and a missing run."""

from __future__ import annotations

import pytest

from brisa.control.queries import no_dag, no_run
from brisa.errors import NotFound
from brisa.store import Store


def test_the_scope_words_a_missing_dag_and_run_as_the_store_does(store: Store) -> None:
    with pytest.raises(NotFound) as dag:
        store.get_dag("ops", "etl")
    assert str(dag.value) == no_dag("ops", "etl")
    with pytest.raises(NotFound) as run:
        store.get_run("ops", "etl", "manual__1")
    assert str(run.value) == no_run("ops", "etl", "manual__1")
