"""W4 new DAG: seconds from a new file appearing in the DAG folder until the API lists it."""

from __future__ import annotations

import time

from bench import dagfiles
from bench.standalone import Standalone, wait_until


def measure(server: Standalone, index: int) -> dict[str, float]:
    dag_id = dagfiles.new_dag_id(index)
    started = time.monotonic()
    dagfiles.drop(server.dags, dag_id, dagfiles.fanout(3, dag_id))
    wait_until(lambda: server.dag_listed(dag_id), 60.0, f"DAG {dag_id} listed", every=0.005)
    return {"newdag.seconds": time.monotonic() - started}
