"""The `brisa` command line: the root group and the commands that start processes.

Commands that talk to a running Brisa (dags, runs, tasks) live in `brisa.cli.remote`;
the ones here work on the configuration, the database and the object store directly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from brisa.errors import BrisaError
from brisa.settings import Settings, load


class Root(click.Group):
    """Turns Brisa's errors into a message on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrisaError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Config file (default: $BRISA_HOME/brisa.toml).",
)
@click.version_option(package_name="brisa")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """Brisa: workflows as Python DAGs, scheduled and run in isolated workers."""
    ctx.obj = {"config_file": config_file}


def settings_of(ctx: click.Context, **overrides: dict[str, Any]) -> Settings:
    settings = load(config_file=ctx.obj["config_file"])
    for section, values in overrides.items():
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            settings = settings.replace(section, origin="command line", **values)
    return settings


def _logging(settings: Settings) -> None:
    from brisa.cli.logsetup import configure

    configure(settings.logging.format)


log_format = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="This process's log lines: text (default) or one JSON object per line.",
)
metrics_port = click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve /metrics and /health/* on this port of [metrics] host (0: not at all).",
)


def _serve_metrics(system: Any, port: int) -> None:
    """The process's own server of /metrics and /health/*, when it has a port."""
    if port:
        system.monitor.serve(system.settings.metrics.host, port)


@cli.command()
@click.option("--port", type=int, help="Port of the API and UI (default 8080).")
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option(
    "--dags",
    "dags_folder",
    type=click.Path(file_okay=False),
    help="Folder of DAG files (team 'default').",
)
@log_format
@click.pass_context
def standalone(
    ctx: click.Context,
    port: int | None,
    host: str | None,
    dags_folder: str | None,
    log_format: str | None,
) -> None:
    """Run everything in one process: API, scheduler, DAG processor, local executor."""
    from brisa.system import System

    folder = str(Path(dags_folder).absolute()) if dags_folder else None
    settings = settings_of(
        ctx,
        api={"port": port, "host": host},
        dags={"folder": folder},
        logging={"format": log_format},
    )
    _logging(settings)
    if settings.dags.folder and not Path(settings.dags.folder).is_dir():
        raise click.BadParameter(f"{settings.dags.folder} is not a folder", param_hint="--dags")
    system = System.create(settings)
    system.store  # noqa: B018 - migrate before anything else starts
    system.isolate_tasks()  # refuses a run_as_user it cannot switch to, before starting
    # Refused before starting: another scheduler on this SQLite file; on Kubernetes no API
    # server or no permission.
    system.claim_scheduling()
    system.start_processor()
    click.echo(
        f"Brisa is running at {settings.api_url} (state in {settings.home}); press Ctrl+C to stop."
    )
    system.serve_api(on_started=system.start_scheduler)


@cli.command()
@click.option("--port", type=int)
@click.option("--host")
@log_format
@click.pass_context
def api(ctx: click.Context, port: int | None, host: str | None, log_format: str | None) -> None:
    """Serve the REST API and the worker-facing execution API (and /metrics, /health/*)."""
    from brisa.system import System

    settings = settings_of(ctx, api={"port": port, "host": host}, logging={"format": log_format})
    _logging(settings)
    system = System.create(settings)
    click.echo(f"Brisa API at {system.settings.api_url}")
    system.serve_api()


@cli.command()
@metrics_port
@log_format
@click.pass_context
def scheduler(ctx: click.Context, metrics_port: int | None, log_format: str | None) -> None:
    """Create runs, queue ready tasks, start workers, detect lost ones."""
    from brisa.system import System

    settings = settings_of(
        ctx, metrics={"scheduler_port": metrics_port}, logging={"format": log_format}
    )
    _logging(settings)
    system = System.create(settings)
    system.isolate_tasks()  # refuses a run_as_user it cannot switch to, before starting
    _serve_metrics(system, settings.metrics.scheduler_port)
    try:
        system.run_scheduler()
    except KeyboardInterrupt:
        system.shutdown()


@cli.command("dag-processor")
@click.option("--dags", "dags_folder", type=click.Path(file_okay=False))
@metrics_port
@log_format
@click.pass_context
def dag_processor(
    ctx: click.Context, dags_folder: str | None, metrics_port: int | None, log_format: str | None
) -> None:
    """Sync the git repositories, parse DAG files in child processes, store the DAGs."""
    from brisa.system import System

    folder = str(Path(dags_folder).absolute()) if dags_folder else None
    settings = settings_of(
        ctx,
        dags={"folder": folder},
        metrics={"dag_processor_port": metrics_port},
        logging={"format": log_format},
    )
    _logging(settings)
    system = System.create(settings)
    system.store  # noqa: B018 - migrate before anything starts
    if not system.start_processor():
        raise click.UsageError(
            "no DAG source: pass --dags FOLDER, set [dags] folder, or add [repos.NAME] tables"
        )
    _serve_metrics(system, settings.metrics.dag_processor_port)
    try:
        system.stop.wait()
    except KeyboardInterrupt:
        system.shutdown()


@cli.group()
def db() -> None:
    """The metadata database."""


@db.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Create or upgrade the schema (safe to run again)."""
    from brisa.settings import redact_url
    from brisa.system import System

    settings = settings_of(ctx.find_root())
    settings.home.mkdir(parents=True, exist_ok=True)
    # Not System.create: migrating needs no secret key, so none is made.
    system = System(settings)
    system.store  # noqa: B018 - opening the store brings its schema up to date
    system.shutdown()
    click.echo(f"database {redact_url(settings.database_url)} is up to date")


@cli.group()
def logs() -> None:
    """Task logs in the object store ([logs] location)."""


def _size(n: int) -> str:
    value, unit = float(n), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


@logs.command("prune")
@click.option(
    "--older-than", required=True, metavar="DURATION", help="Age of the logs to delete: 30d, 12h."
)
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.pass_context
def logs_prune(ctx: click.Context, older_than: str, dry_run: bool) -> None:
    """Delete attempt logs last written longer ago than --older-than.

    Works on the object store directly: no running Brisa is needed. The scheduler does the
    same every hour when [logs] retention is set.
    """
    from datetime import UTC, datetime, timedelta

    from brisa.logs.retention import prune
    from brisa.objectstore import open_object_store
    from brisa.settings import parse_duration

    age = timedelta(seconds=parse_duration(older_than, "--older-than"))
    settings = settings_of(ctx.find_root())
    store = open_object_store(settings.logs_location, settings.object_store_options())
    cutoff = datetime.now(UTC).replace(microsecond=0) - age
    done = prune(store, cutoff, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {done.objects} objects ({_size(done.bytes)}), the logs of {done.attempts} "
        f"attempts last written before {cutoff.isoformat().replace('+00:00', 'Z')} "
        f"in {store.location}"
    )


@cli.group()
def config() -> None:
    """The effective configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration (file + environment), secrets redacted."""
    click.echo(json.dumps(settings_of(ctx.find_root()).redacted(), indent=2))


def _register_remote() -> None:
    try:
        from brisa.cli import remote
    except ImportError:  # pragma: no cover - during development only
        return
    remote.register(cli)
    from brisa.cli.k8s import k8s_group

    cli.add_command(k8s_group)


_register_remote()
