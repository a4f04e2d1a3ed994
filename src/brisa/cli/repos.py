"""`brisa repos ...`: the DAG sources (git repositories and the DAG folder) of a running
Brisa, their sync status, and syncing one now. Built like the commands of `brisa.cli.remote`.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from brisa.cli.client import Client
from brisa.cli.remote import POLL_INTERVAL, api_client, output_option
from brisa.cli.tables import REPO_COLUMNS, echo_json, render_repo, repo_row, short_sha, table
from brisa.errors import BrisaError

SYNC_TIMEOUT = 60.0


class SyncTimeout(BrisaError):
    """`repos sync --wait` saw no sync finish in time."""


@click.group("repos")
def repos_group() -> None:
    """DAG sources: git repositories and the DAG folder; their sync status; sync now."""


@repos_group.command("list")
@output_option
@api_client
def repos_list(client: Client, output: str) -> None:
    """List the DAG sources with their current commit and how their last sync went."""
    data = client.list_repos()
    if output == "json":
        return echo_json(data)
    click.echo(table([repo_row(r) for r in data["repos"]], REPO_COLUMNS))


@repos_group.command("status")
@click.argument("name")
@output_option
@api_client
def repos_status(client: Client, name: str, output: str) -> None:
    """Show one DAG source: where it comes from, its commit, its last sync and error."""
    repo = client.get_repo(name)
    if output == "json":
        return echo_json(repo)
    click.echo(render_repo(repo))


def _at(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wait_for_sync(
    client: Client, name: str, since: datetime, timeout: float, interval: float = POLL_INTERVAL
) -> dict[str, Any]:
    """Poll a repository until a sync has finished at or after `since` (the server's time of
    the request); SyncTimeout after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        repo: dict[str, Any] = client.get_repo(name)
        synced = _at(repo["last_sync_at"])
        if synced is not None and synced >= since:
            return repo
        if time.monotonic() >= deadline:
            raise SyncTimeout(
                f"repository {name} was not synced within {timeout:g}s of the request; is the "
                f"DAG processor running? `brisa repos status {name}` shows its last sync"
            )
        time.sleep(interval)


def _outcome(repo: dict[str, Any], since: datetime) -> str:
    name, sha = repo["name"], short_sha(repo["current_sha"])
    if repo["last_error"]:
        kind = f" ({repo['error_kind']})" if repo["error_kind"] else ""
        kept = f"\nstill at commit {sha}" if sha else ""
        return f"repository {name}: sync failed{kind}: {repo['last_error']}{kept}"
    published = _at(repo["published_at"])
    if published is not None and published >= since:
        return f"repository {name} synced: commit {sha} published"
    return f"repository {name} synced: still at commit {sha} (nothing new)"


@repos_group.command("sync")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Wait for the sync; exit 1 if it fails.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=SYNC_TIMEOUT,
    show_default=True,
    help="Seconds --wait waits for the sync before exiting 2.",
)
@click.option(
    "--secret-env",
    metavar="VAR",
    default="BRISA_WEBHOOK_SECRET",
    show_default=True,
    help="Environment variable with the repository's webhook_secret, to sign the request.",
)
@output_option
@api_client
def repos_sync(
    client: Client, name: str, wait: bool, timeout: float, secret_env: str, output: str
) -> None:
    """Sync a git repository now instead of at its next period.

    With --wait, exit 0 once a sync has finished without error, 1 when it failed (the error
    is shown), 2 when none finished within --timeout.
    """
    answer = client.sync_repo(name, secret=os.environ.get(secret_env, ""))
    if not wait:
        return echo_json(answer) if output == "json" else click.echo(f"sync of {name} requested")
    since = _at(answer["requested_at"]) or datetime.now(UTC)
    repo = wait_for_sync(client, name, since, timeout)
    if output == "json":
        echo_json(repo)
    else:
        click.echo(_outcome(repo, since), err=bool(repo["last_error"]))
    if repo["last_error"]:
        sys.exit(1)
