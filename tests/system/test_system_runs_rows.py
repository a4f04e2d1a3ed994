"""The runs list's live rows over HTTP (UI.md A.2.9 Refresh): an unfinished run's row carries
its trigger and re-fetches itself under the version/204 contract, keeps its box ticked when
the re-fetch says so, loses its trigger once the run is finished, and an unknown run or DAG is
a 404 that names it."""

from __future__ import annotations

import re

from brisa import DAG, shell
from system.inprocess import InProcess

ROW = "/_/runs/row/default/nightly/r1"


def publish(brisa: InProcess) -> None:
    with DAG("nightly") as dag:
        shell("t", "true")
    brisa.publish(dag)


def test_an_unfinished_runs_row_follows_it_and_stops_when_it_ends(brisa: InProcess) -> None:
    publish(brisa)
    brisa.trigger("nightly")
    page = brisa.api.get("/runs?dag=nightly").text
    assert 'hx-get="/_/runs/row/default/nightly/r1"' in page  # queued: it follows its run
    row = brisa.api.get(ROW)
    assert row.status_code == 200 and 'id="run-pick-' in row.text and " checked" not in row.text
    version = re.search(r'"v": "([0-9a-f]{16})"', row.text)
    assert version is not None
    assert brisa.api.get(f"{ROW}?v={version.group(1)}").status_code == 204
    ticked = brisa.api.get(f"{ROW}?picked=1").text
    assert re.search(r'name="picked" data-pick checked', ticked)
    brisa.settle()
    assert brisa.run("nightly")["state"] == "success"
    done = brisa.api.get(f"{ROW}?v={version.group(1)}")
    assert done.status_code == 200 and "state-success" in done.text
    assert "hx-get" not in done.text  # finished: no trigger, it stops
    assert 'hx-get="/_/runs/row/' not in brisa.api.get("/runs?dag=nightly").text


def test_an_unknown_run_or_dag_row_is_a_404_that_names_it(brisa: InProcess) -> None:
    publish(brisa)
    for path, named in (
        ("/_/runs/row/default/nightly/nope", "no run &#39;nope&#39; of default/nightly"),
        ("/_/runs/row/default/ghost/r1", "default/ghost"),
        ("/_/runs/row/elsewhere/nightly/r1", "elsewhere/nightly"),
    ):
        answer = brisa.api.get(path)
        assert answer.status_code == 404, path
        assert named in answer.text and "Traceback" not in answer.text
