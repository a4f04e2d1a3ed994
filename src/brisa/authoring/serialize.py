"""The authoring model turned into its serialized spec: what the DAG processor stores."""

from __future__ import annotations

from brisa.authoring.dag import DAG
from brisa.core.spec import DagSpec


def serialize(dag: DAG, fileloc: str) -> DagSpec:
    """The spec of a validated DAG. `fileloc` is relative to the DAG folder."""
    dag.validate()
    return DagSpec(
        dag_id=dag.dag_id,
        fileloc=fileloc,
        lineno=dag.lineno,
        description=dag.description,
        schedule=dag.schedule,
        start_date=dag.start_date,
        end_date=dag.end_date,
        catchup=dag.catchup,
        params={name: p.to_spec() for name, p in sorted(dag.params.items())},
        max_active_runs=dag.max_active_runs,
        max_active_tasks=dag.max_active_tasks,
        dagrun_timeout=dag.dagrun_timeout,
        tags=tuple(dag.tags),
        owner=dag.owner,
        tasks={tid: dag.tasks[tid].to_spec() for tid in sorted(dag.tasks)},
    )
