"""W0 start-up: seconds from launching `brisa standalone` until the REST API answers and
the DAG in its folder is listed, on an empty home and again on the database it left."""

from __future__ import annotations

from bench.dagfiles import IDLE_DAG
from bench.standalone import Standalone


def fresh(server: Standalone) -> dict[str, float]:
    """Launch on an empty home (no database yet)."""
    server.launch()
    api = server.wait_api()
    return {"start.api_empty": api, "start.dag_empty": server.wait_dag(IDLE_DAG)}


def restart(server: Standalone) -> dict[str, float]:
    """Stop the server and launch it again on the database it already has."""
    server.stop()
    server.launch()
    api = server.wait_api()
    return {"start.api_existing": api, "start.dag_existing": server.wait_dag(IDLE_DAG)}
