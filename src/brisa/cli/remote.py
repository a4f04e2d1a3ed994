"""`brisa dags|runs|tasks ...`: commands that talk to a running Brisa over its REST API,
plus `brisa dags test`, which runs a DAG in this process for DAG authors. `brisa repos ...`
lives in `brisa.cli.repos` and is registered here with the others.

Each command parses its input, makes one or two calls through `Client`, and renders the
answer: a plain aligned table by default, the API's own JSON with `--output json`.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from brisa.cli.client import DEFAULT_API_URL, Client, Disconnected
from brisa.cli.tables import (
    DAG_COLUMNS,
    IMPORT_ERROR_COLUMNS,
    RUN_COLUMNS,
    TASK_COLUMNS,
    echo_json,
    import_error_row,
    named,
    render_dag,
    render_run,
    stamp,
    table,
    with_commits,
)
from brisa.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from brisa.cli.dagtest import TaskResult

POLL_INTERVAL = 0.5
RECONNECT_FOR = 60.0  # seconds a broken log stream is retried before giving up
FINISHED_RUN = {"success", "failed", "cancelled"}
NEVER_RAN = {"skipped", "upstream_failed", "cancelled", "success", "failed"}


# --- options shared by the commands --------------------------------------------------------

# Adds --api-url (or BRISA_API_URL) and passes the command a `client`.
api_client = click.option(
    "--api-url",
    "client",
    envvar="BRISA_API_URL",
    default=DEFAULT_API_URL,
    show_default=True,
    metavar="URL",
    callback=lambda _ctx, _param, value: Client(value),
    help="Brisa's REST API (env BRISA_API_URL).",
)
output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A text table for people, or the API's JSON for scripts.",
)
conf_option = click.option(
    "--conf", metavar="JSON", help="Run parameters as a JSON object, e.g. '{\"x\": 1}'."
)


def parse_conf(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput('--conf must be a JSON object mapping param names to values: {"x": 1}')
    return value


def _now() -> datetime:
    return datetime.now(UTC)


# --- dags ----------------------------------------------------------------------------------


@click.group("dags")
def dags_group() -> None:
    """DAGs: list, show, trigger, pause, import errors, and test locally.

    NAME is team/dag_id, or a bare dag_id when only one team has it.
    """


@dags_group.command("list")
@click.option("--team", help="Only this team's DAGs.")
@output_option
@api_client
def dags_list(client: Client, team: str | None, output: str) -> None:
    """List DAGs of every team (or of one)."""
    data = client.find_dags(team=team)
    if output == "json":
        return echo_json(data)
    click.echo(table(*with_commits([named(d) for d in data["dags"]], DAG_COLUMNS)))


@dags_group.command("show")
@click.argument("name")
@output_option
@api_client
def dags_show(client: Client, name: str, output: str) -> None:
    """Show a DAG: schedule, params, tasks."""
    dag = client.get_dag(*client.resolve(name))
    if output == "json":
        return echo_json(dag)
    click.echo(render_dag(dag))


def _report_changes(run: dict[str, Any], seen: dict[str, tuple[str, int]]) -> None:
    for t in run.get("tasks", []):
        key = (t["state"], t["try_number"])
        if t["state"] == "pending" or seen.get(t["task_id"]) == key:
            continue
        seen[t["task_id"]] = key
        tries = f" (try {t['try_number']})" if t["try_number"] > 1 else ""
        error = f": {t['error']}" if t["error"] and t["state"] != "success" else ""
        click.echo(f"{stamp(_now())} {t['task_id']}: {t['state']}{tries}{error}")


def wait_for_run(
    client: Client, run: dict[str, Any], *, report: bool, interval: float = POLL_INTERVAL
) -> dict[str, Any]:
    """Poll a run until it has finished; print task state changes when `report`."""
    seen: dict[str, tuple[str, int]] = {}
    while True:
        if report:
            _report_changes(run, seen)
        if run["state"] in FINISHED_RUN:
            return run
        time.sleep(interval)
        run = client.get_run(run["team"], run["dag_id"], run["run_id"])


@dags_group.command("trigger")
@click.argument("name")
@conf_option
@click.option("--run-id", help="Id of the new run (default: manual__<now>).")
@click.option("--wait", is_flag=True, help="Wait for the run; exit 1 if it fails.")
@output_option
@api_client
def dags_trigger(
    client: Client, name: str, conf: str | None, run_id: str | None, wait: bool, output: str
) -> None:
    """Start a manual run, with params from --conf.

    With --wait, exit 0 when the run succeeds and 1 when it fails or is cancelled.
    """
    params = parse_conf(conf)
    team, dag_id = client.resolve(name)
    run = client.trigger(team, dag_id, conf=params, run_id=run_id)
    if output == "table":
        click.echo(f"triggered {team}/{dag_id} run {run['run_id']}")
    if wait:
        run = wait_for_run(client, run, report=output == "table")
    if output == "json":
        echo_json(run)
    elif wait:
        click.echo(f"run {run['run_id']} {run['state']}")
    if wait and run["state"] != "success":
        sys.exit(1)


@dags_group.command("errors")
@click.option("--team", help="Only this team's files.")
@output_option
@api_client
def dags_errors(client: Client, team: str | None, output: str) -> None:
    """List DAG files that failed to import, with the commit they failed in."""
    data = client.import_errors(team=team)
    if output == "json":
        return echo_json(data)
    click.echo(table([import_error_row(e) for e in data["import_errors"]], IMPORT_ERROR_COLUMNS))


def _set_paused(client: Client, name: str, paused: bool) -> None:
    team, dag_id = client.resolve(name)
    dag = client.set_paused(team, dag_id, paused)
    click.echo(f"{team}/{dag_id} is {'paused' if dag['is_paused'] else 'unpaused'}")


@dags_group.command("pause")
@click.argument("name")
@api_client
def dags_pause(client: Client, name: str) -> None:
    """Stop scheduling new runs of a DAG (manual triggers still work)."""
    _set_paused(client, name, True)


@dags_group.command("unpause")
@click.argument("name")
@api_client
def dags_unpause(client: Client, name: str) -> None:
    """Schedule a paused DAG again."""
    _set_paused(client, name, False)


# --- dags test (in-process, no server) -----------------------------------------------------


def dags_path(ctx: click.Context, path: Path | None) -> tuple[Path, str]:
    """The DAG folder or file to load, and the team that owns it."""
    from brisa.settings import load

    settings = load(config_file=(ctx.obj or {}).get("config_file"))
    if path is None:
        if not settings.dags.folder:
            raise InvalidInput(
                "no DAG folder: pass --dags PATH (a folder or a .py file) or set [dags] folder"
            )
        path = Path(settings.dags.folder)
    return path, settings.dags.team


def _print_start(task_id: str, at: datetime) -> None:
    click.echo(f"{stamp(at)} {task_id}: running")


def _print_end(result: TaskResult) -> None:
    took = ""
    if result.started_at and result.ended_at:
        took = f" in {(result.ended_at - result.started_at).total_seconds():.3f}s"
    error = f": {result.error}" if result.error else ""
    click.echo(f"{stamp(result.ended_at)} {result.task_id}: {result.state}{took}{error}")


@dags_group.command("test")
@click.argument("name")
@click.option(
    "--dags",
    "path",
    type=click.Path(exists=True, path_type=Path),
    help="DAG folder or a single .py file (default: the configured [dags] folder).",
)
@conf_option
@click.pass_context
def dags_test(ctx: click.Context, name: str, path: Path | None, conf: str | None) -> None:
    """Run a whole DAG here, in this process, with no server: for DAG authors.

    Every task runs once, in dependency order, honouring trigger rules and passing return
    values, as a manual run with params from --conf. No retries and no timeouts; nothing is
    stored. Exit 0 when every task succeeded or was skipped, 1 otherwise.
    """
    from brisa.cli import dagtest

    params = parse_conf(conf)
    path, team = dags_path(ctx, path)
    if "/" in name:
        team, name = name.split("/", 1)
    hooks = dagtest.Hooks(started=_print_start, finished=_print_end)
    results = dagtest.run_local(path, name, params, team=team, clock=_now, hooks=hooks)
    bad = [r.task_id for r in results if not r.ok]
    if bad:
        click.echo(f"{team}/{name}: not every task succeeded ({', '.join(bad)})", err=True)
        sys.exit(1)
    click.echo(f"{team}/{name}: every task succeeded or was skipped")


# --- runs ----------------------------------------------------------------------------------


@click.group("runs")
def runs_group() -> None:
    """Runs of a DAG: list, show, cancel."""


@runs_group.command("list")
@click.argument("name")
@click.option("--state", help="Only runs in this state (queued, running, success, ...).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@output_option
@api_client
def runs_list(client: Client, name: str, state: str | None, limit: int, output: str) -> None:
    """List a DAG's runs, newest first."""
    data = client.list_runs(*client.resolve(name), state=state, limit=limit)
    if output == "json":
        return echo_json(data)
    click.echo(table(*with_commits(data["runs"], RUN_COLUMNS)))


@runs_group.command("show")
@click.argument("name")
@click.argument("run_id")
@output_option
@api_client
def runs_show(client: Client, name: str, run_id: str, output: str) -> None:
    """Show a run and the state of each of its tasks."""
    run = client.get_run(*client.resolve(name), run_id)
    if output == "json":
        return echo_json(run)
    click.echo(render_run(run))


@runs_group.command("cancel")
@click.argument("name")
@click.argument("run_id")
@api_client
def runs_cancel(client: Client, name: str, run_id: str) -> None:
    """Cancel a run: stop its running tasks, start no new ones."""
    team, dag_id = client.resolve(name)
    # The API answers a cancel of a finished run with that run, unchanged: look first.
    run = client.get_run(team, dag_id, run_id)
    if run["state"] in FINISHED_RUN:
        click.echo(f"run {run_id} is already {run['state']}; nothing to cancel")
        return
    run = client.cancel(team, dag_id, run_id)
    click.echo(f"run {run_id} {run['state']}")


# --- tasks ---------------------------------------------------------------------------------


@click.group("tasks")
def tasks_group() -> None:
    """Tasks of a run: list, logs, clear, mark."""


@tasks_group.command("list")
@click.argument("name")
@click.argument("run_id")
@output_option
@api_client
def tasks_list(client: Client, name: str, run_id: str, output: str) -> None:
    """List the tasks of a run with their state and try number."""
    data = client.list_tasks(*client.resolve(name), run_id)
    if output == "json":
        return echo_json(data)
    click.echo(table(data["tasks"], TASK_COLUMNS))


def _started_try(client: Client, ref: tuple[str, str, str], task_id: str, follow: bool) -> int:
    """The task's current try number, waiting for its first try to start when following."""
    while True:
        task = client.get_task(*ref, task_id)
        if task["try_number"] > 0:
            return int(task["try_number"])
        if task["state"] in NEVER_RAN:
            raise NotFound(f"task {task_id} did not run (it is {task['state']}): it has no log")
        if not follow:
            raise NotFound(f"task {task_id} has not started yet; --follow waits for it")
        time.sleep(POLL_INTERVAL)


def print_log(client: Client, ref: tuple[str, str, str], task_id: str, try_number: int) -> None:
    """Print one try's log as it is now, a bounded page at a time."""
    offset = 0
    while True:
        page = client.logs(*ref, task_id, try_number=try_number, offset=offset)
        click.echo(page["content"], nl=False)
        if not page["content"]:
            return
        offset = page["next_offset"]


def follow_log(
    client: Client,
    ref: tuple[str, str, str],
    task_id: str,
    try_number: int,
    *,
    give_up_after: float = RECONNECT_FOR,
) -> None:
    """Print one try's log as it grows, until the try is over and everything is printed.

    Reads the API's event stream; when it breaks off (or the server lets it go after an
    hour), it reconnects and resumes at the offset of the last chunk printed.
    """
    offset, failing_since = 0, None
    while True:
        try:
            for event in client.log_events(*ref, task_id, try_number=try_number, offset=offset):
                failing_since = None
                if event.event == "end":
                    return
                chunk = json.loads(event.data)
                click.echo(chunk["content"], nl=False)
                offset = chunk["next_offset"]
        except Disconnected:
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > give_up_after:
                raise
            time.sleep(POLL_INTERVAL)


def _latest_run(client: Client, team: str, dag_id: str) -> str:
    """The id of the run `brisa runs list` shows first (latest logical date), said on stderr."""
    runs = client.list_runs(team, dag_id, limit=1)["runs"]
    if not runs:
        raise NotFound(f"{team}/{dag_id} has no runs yet; trigger one or name a run id")
    click.echo(f"latest run of {team}/{dag_id}: {runs[0]['run_id']}", err=True)
    return str(runs[0]["run_id"])


@tasks_group.command("logs")
@click.argument("name")
@click.argument("ids", nargs=-1, required=True, metavar="[RUN_ID] TASK_ID")
@click.option("--try", "try_number", type=click.IntRange(min=1), help="Default: the latest.")
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing as the task prints, until the try is over."
)
@api_client
def tasks_logs(
    client: Client, name: str, ids: tuple[str, ...], try_number: int | None, follow: bool
) -> None:
    """Print the log of one try of a task: as it is now, or, with --follow, live until the try
    is over (reconnecting if the connection breaks). Without RUN_ID: the latest run."""
    if len(ids) > 2:
        raise InvalidInput(f"too many arguments {' '.join(ids)!r}: give [RUN_ID] TASK_ID")
    team, dag_id = client.resolve(name)
    *run_ids, task_id = ids
    run_id = run_ids[0] if run_ids else _latest_run(client, team, dag_id)
    ref = (team, dag_id, run_id)
    number = try_number or _started_try(client, ref, task_id, follow)
    if follow:
        try:
            follow_log(client, ref, task_id, number)
        except KeyboardInterrupt:
            sys.exit(130)
    else:
        print_log(client, ref, task_id, number)


@tasks_group.command("clear")
@click.argument("name")
@click.argument("run_id")
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--downstream", is_flag=True, help="Also clear every task downstream of them.")
@api_client
def tasks_clear(
    client: Client, name: str, run_id: str, task_ids: tuple[str, ...], downstream: bool
) -> None:
    """Run tasks again as new tries of the same run.

    Shell tasks run the command stored with the run's DAG version; Python tasks import the
    DAG file as it is now (a plain DAG folder keeps no old code).
    """
    answer = client.clear(*client.resolve(name), run_id, list(task_ids), downstream=downstream)
    cleared = answer["cleared"]
    click.echo(f"cleared {', '.join(cleared)}" if cleared else "nothing to clear")


@tasks_group.command("mark")
@click.argument("name")
@click.argument("run_id")
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--state", type=click.Choice(["success", "failed"]), required=True)
@api_client
def tasks_mark(
    client: Client, name: str, run_id: str, task_ids: tuple[str, ...], state: str
) -> None:
    """Set tasks to success or failed by hand.

    Pending downstream tasks react as to a real result; tasks already upstream_failed or
    skipped keep their state (clear them to run them).
    """
    answer = client.mark(*client.resolve(name), run_id, list(task_ids), state)
    changed = answer["changed"]
    click.echo(f"marked {', '.join(changed)} {state}" if changed else "nothing changed")


def register(cli: click.Group) -> None:
    """Add the dags, runs, tasks, repos and pools groups to the root `brisa` group."""
    from brisa.cli.pools import pools_group  # they build on this module's options
    from brisa.cli.repos import repos_group

    for group in (dags_group, runs_group, tasks_group, repos_group, pools_group):
        cli.add_command(group)
