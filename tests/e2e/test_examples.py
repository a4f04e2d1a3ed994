"""`make run` serves the bundled examples: every example DAG is listed and its runs do
what the example says."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BACKENDS, new_database
from support.standalone import Standalone

EXAMPLES = {"etl_orders", "shell_pipeline", "flaky_with_retries"}


@pytest.fixture(scope="module", params=BACKENDS)
def brisa(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Standalone]:
    """The examples served by a real standalone, on SQLite and on PostgreSQL."""
    home = tmp_path_factory.mktemp("examples") / "home"
    with new_database(request.param, home.parent) as url:
        env = {"BRISA__SCHEDULER__POLL_INTERVAL": "200ms", "BRISA__DATABASE__URL": url}
        server = Standalone(home, env=env).start()
        try:
            for dag_id in EXAMPLES:
                server.wait_for_dag(dag_id)
            yield server
        finally:
            server.stop()


def test_every_example_is_listed_without_import_errors(brisa: Standalone) -> None:
    listed = {d["dag_id"] for d in brisa.list_dags("default")}
    assert listed >= EXAMPLES
    assert brisa.get("/api/v1/import-errors")["import_errors"] == []


def test_etl_passes_values_between_python_tasks(brisa: Standalone) -> None:
    run = brisa.trigger("etl_orders", {"min_amount": 10})
    done = brisa.wait_for_run("etl_orders", run["run_id"])
    assert done["state"] == "success"
    base = f"{brisa.dag_path('etl_orders')}/runs/{run['run_id']}/tasks"
    # ada: 42.0 + 18.25; bob's 7.5 is under the floor.
    assert brisa.get(f"{base}/transform")["return_value"] == {"ada": 60.25}
    assert brisa.get(f"{base}/load")["return_value"] == 1
    log = brisa.whole_log(f"{base}/load")["content"]
    assert "ada: 60.25" in log


def test_shell_pipeline_uses_params_in_commands(brisa: Standalone) -> None:
    run = brisa.trigger("shell_pipeline", {"greeting": "hola", "repeat": 4})
    assert brisa.wait_for_run("shell_pipeline", run["run_id"])["state"] == "success"
    base = f"{brisa.dag_path('shell_pipeline')}/runs/{run['run_id']}/tasks"
    assert brisa.get(f"{base}/count")["return_value"] == "8"  # 4 lines of "hola world"


def test_flaky_task_succeeds_after_retries_and_the_alert_is_skipped(brisa: Standalone) -> None:
    run = brisa.trigger("flaky_with_retries")
    done = brisa.wait_for_run("flaky_with_retries", run["run_id"])
    states = {t["task_id"]: (t["state"], t["try_number"]) for t in done["tasks"]}
    assert done["state"] == "success"
    assert states == {
        "flaky": ("success", 3),
        "maybe_fail": ("success", 1),
        "notify_failure": ("skipped", 0),
    }


def test_a_permanent_failure_fails_the_run_and_runs_the_alert(brisa: Standalone) -> None:
    run = brisa.trigger("flaky_with_retries", {"fail_for_good": True})
    done = brisa.wait_for_run("flaky_with_retries", run["run_id"])
    states = {t["task_id"]: t["state"] for t in done["tasks"]}
    assert done["state"] == "failed"
    assert states == {"flaky": "success", "maybe_fail": "failed", "notify_failure": "success"}
    failed = next(t for t in done["tasks"] if t["task_id"] == "maybe_fail")
    assert "asked to fail" in failed["error"]


def test_the_examples_folder_is_what_make_run_serves() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "standalone --port $(PORT) --dags examples/dags" in makefile
