"""`brisa k8s`: what the Kubernetes executor would do, shown without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click


@click.group("k8s")
def k8s_group() -> None:
    """The Kubernetes executor: render pods."""


@k8s_group.command("render")
@click.argument("dag")
@click.argument("task_id")
@click.option(
    "--dags",
    "path",
    type=click.Path(exists=True, path_type=Path),
    help="DAG folder or a single .py file (default: the configured [dags] folder).",
)
@click.option("--conf", metavar="JSON", help="Run parameters, as for a manual run.")
@click.option("--try", "try_number", type=click.IntRange(1), default=1, show_default=True)
@click.pass_context
def render(
    ctx: click.Context, dag: str, task_id: str, path: Path | None, conf: str | None, try_number: int
) -> None:
    """Print the pod (YAML) TASK_ID of DAG would run in, with this configuration.

    DAG is a DAG id (or TEAM/DAG_ID), loaded from the DAG files as `brisa dags test` does.
    The attempt is a sample (task instance 0, a manual run now); a container task's command
    and args are filled in from --conf and the date.
    """
    import yaml  # type: ignore[import-untyped]

    from brisa.authoring.params import resolve_conf
    from brisa.cli.commands import settings_of
    from brisa.cli.dagtest import load_dag
    from brisa.cli.remote import dags_path, parse_conf
    from brisa.executor.kubernetes.podconfig import SampleAttempt, render_task_pod
    from brisa.system import System

    path, team = dags_path(ctx, path)
    if "/" in dag:
        team, dag = dag.split("/", 1)
    loaded = load_dag(path, dag)
    settings = settings_of(ctx.find_root())
    system = System(settings=settings)
    now = datetime.now(UTC)
    sample = SampleAttempt(
        deployment=system.executor_scope(),
        team=team,
        run_id=f"manual__{now.isoformat()}",
        logical_date=now,
        params=resolve_conf(loaded.spec.params, parse_conf(conf)),
        try_number=try_number,
    )
    pod = render_task_pod(loaded.spec, task_id, settings.kubernetes, system.worker_env(), sample)
    click.echo(yaml.safe_dump(pod, sort_keys=False), nl=False)
