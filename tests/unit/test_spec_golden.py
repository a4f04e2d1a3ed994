"""Stored specs stay byte for byte what they were: `specs.json` holds the output of the
serializer before specs were typed (the example DAGs and `edge_cases.py`), with their
structure versions. Reading and writing them again must change nothing, or every stored DAG
would get a new version. Regenerate it only together with a migration of the stored form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from brisa.authoring.loader import load_file
from brisa.authoring.serialize import serialize
from brisa.core.spec import DagSpec, structure_version

FOLDER = Path(__file__).parent / "spec_golden"
GOLDEN: list[dict[str, Any]] = json.loads((FOLDER / "specs.json").read_text())
IDS = [entry["spec"]["dag_id"] for entry in GOLDEN]


def test_the_golden_file_covers_the_examples_and_the_edge_cases() -> None:
    assert IDS == [
        "etl_orders",
        "flaky_with_retries",
        "shell_pipeline",
        "edge_interval",
        "edge_manual",
        "edge_cron",
    ]


@pytest.mark.parametrize("entry", GOLDEN, ids=IDS)
def test_reading_and_writing_a_stored_spec_changes_nothing(entry: dict[str, Any]) -> None:
    stored = entry["spec"]
    again = DagSpec.from_json(stored).to_json()
    assert again == stored
    # Same keys in the same order: the JSON text in the database would be the same.
    assert json.dumps(again) == json.dumps(stored)


@pytest.mark.parametrize("entry", GOLDEN, ids=IDS)
def test_a_stored_spec_keeps_its_structure_version(entry: dict[str, Any]) -> None:
    spec = DagSpec.from_json(entry["spec"])
    assert structure_version(entry["spec"]) == entry["structure_version"]
    assert spec.structure_version() == entry["structure_version"]


def test_the_serializer_still_writes_the_golden_json() -> None:
    dags, error = load_file(FOLDER / "edge_cases.py", FOLDER)
    assert error is None
    written = {dag.dag_id: serialize(dag, "edge_cases.py").to_json() for dag in dags}
    golden = {e["spec"]["dag_id"]: e["spec"] for e in GOLDEN if e["spec"]["dag_id"] in written}
    assert sorted(written) == sorted(golden) == ["edge_cron", "edge_interval", "edge_manual"]
    for dag_id, spec in written.items():
        assert json.dumps(spec) == json.dumps(golden[dag_id]), dag_id
