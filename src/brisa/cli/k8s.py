"""`brisa k8s`: what the Kubernetes executor would do, and what it needs set up, shown
without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click


@click.group("k8s")
def k8s_group() -> None:
    """The Kubernetes executor: render pods and what a platform team sets up."""


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
    from brisa.executor.kubernetes.configured import deployment_of
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
        deployment=deployment_of(settings),
        team=team,
        run_id=f"manual__{now.isoformat()}",
        logical_date=now,
        params=resolve_conf(loaded.spec.params, parse_conf(conf)),
        try_number=try_number,
    )
    pod = render_task_pod(loaded.spec, task_id, settings.kubernetes, system.worker_env(), sample)
    click.echo(yaml.safe_dump(pod, sort_keys=False), nl=False)


@k8s_group.command("rbac")
@click.option("--team", "teams", multiple=True, help="A team (repeatable); default: every team.")
@click.option(
    "--executor",
    default="brisa/brisa-scheduler",
    show_default=True,
    metavar="NAMESPACE/NAME",
    help="The ServiceAccount the executor (the scheduler) runs as.",
)
@click.option("--namespaces", is_flag=True, help="Also print each team's Namespace.")
@click.option(
    "--max-pods",
    type=click.IntRange(1),
    help="Also print a ResourceQuota: at most this many pods at once in a team's namespace.",
)
@click.option(
    "--automount-token",
    is_flag=True,
    help="Let task pods mount their ServiceAccount's API token (default: not).",
)
@click.pass_context
def rbac(
    ctx: click.Context,
    teams: tuple[str, ...],
    executor: str,
    namespaces: bool,
    max_pods: int | None,
    automount_token: bool,
) -> None:
    """Print (YAML) what a platform team applies for the Kubernetes executor, per team: the
    executor's Role and RoleBinding in the team's namespace, the team's task ServiceAccount
    (bound to nothing) and, when asked, its Namespace and a ResourceQuota.

    The teams are, unless --team is given, those owning a DAG source ([dags], [repos.*])
    and those named in a per-team table of [kubernetes].
    """
    import yaml

    from brisa.cli.commands import settings_of
    from brisa.executor.kubernetes.rbac import Setup, manifests, teams_of

    account_namespace, _, account = executor.partition("/")
    if not account_namespace or not account:
        raise click.BadParameter("write NAMESPACE/NAME", param_hint="--executor")
    settings = settings_of(ctx.find_root())
    kube = settings.kubernetes
    chosen = list(teams) or teams_of(kube, (source.team for source in settings.sources()))
    if not chosen:
        raise click.UsageError("no team is configured; name one with --team")
    for team in chosen:
        if not kube.service_account_for(team):
            click.echo(
                f"team {team}: no [kubernetes] service_account, so its pods run as the "
                f"default ServiceAccount of {kube.namespace_for(team)} (not printed)",
                err=True,
            )
    setup = Setup(account_namespace, account, namespaces, max_pods or 0, automount_token)
    click.echo(yaml.safe_dump_all(manifests(kube, chosen, setup), sort_keys=False), nl=False)
