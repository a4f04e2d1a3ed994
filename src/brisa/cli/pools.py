"""`brisa pools ...`: a team's pools (named slot limits) on a running Brisa, their use and who
waits for a slot; create, resize and delete them. Built like the commands of
`brisa.cli.remote`."""

from __future__ import annotations

from typing import Any

import click

from brisa.cli.client import Client
from brisa.cli.remote import api_client, output_option
from brisa.cli.tables import echo_json, table

POOL_COLUMNS = {"POOL": "name", "SLOTS": "slots", "USED": "used", "QUEUED": "queued",
                "RUNNING": "running", "FREE": "open", "WAITING": "waiting",
                "DESCRIPTION": "description"}  # fmt: skip
TASK_COLUMNS = {"DAG": "dag_id", "RUN": "run_id", "TASK": "task_id", "STATE": "state",
                "SLOTS": "slots"}  # fmt: skip


@click.group("pools")
def pools_group() -> None:
    """Pools: named slot limits per team that tasks take slots of (pool=, pool_slots=)."""


@pools_group.command("list")
@click.argument("team")
@click.argument("name", required=False)
@output_option
@api_client
def pools_list(client: Client, team: str, name: str | None, output: str) -> None:
    """List TEAM's pools with their use and waiting tasks; with NAME, that pool's tasks: who
    holds its slots and who waits for one."""
    if name is not None:
        return _show(client.get_pool(team, name), output)
    data = client.list_pools(team)
    if output == "json":
        return echo_json(data)
    click.echo(table(data["pools"], POOL_COLUMNS))
    for missing, count in sorted(data["missing"].items()):
        click.echo(
            f"\n{count} task(s) wait for pool {missing}, which does not exist in team {team}: "
            f"create it with `brisa pools set {team} {missing} --slots N`"
        )


def _show(pool: dict[str, Any], output: str) -> None:
    if output == "json":
        return echo_json(pool)
    click.echo(table([pool], POOL_COLUMNS))
    for title, key in (("Holding slots", "holders"), ("Waiting for a slot", "waiting_tasks")):
        rows = pool[key]
        click.echo(f"\n{title}: {len(rows)}")
        if rows:
            click.echo(table(rows, TASK_COLUMNS))


@pools_group.command("set")
@click.argument("team")
@click.argument("name")
@click.option("--slots", type=int, required=True, help="How many slots (0: start nothing new).")
@click.option("--description", help="What the pool is for (kept when left out).")
@output_option
@api_client
def pools_set(
    client: Client, team: str, name: str, slots: int, description: str | None, output: str
) -> None:
    """Create pool NAME of TEAM or change its size. Shrinking it below what is in use lets
    the running tasks finish; nothing new starts until its use is under the new size."""
    pool = client.set_pool(team, name, slots=slots, description=description)
    if output == "json":
        return echo_json(pool)
    click.echo(f"pool {team}/{name}: {pool['slots']} slots, {pool['used']} in use")


@pools_group.command("delete")
@click.argument("team")
@click.argument("name")
@api_client
def pools_delete(client: Client, team: str, name: str) -> None:
    """Delete pool NAME of TEAM: its running tasks finish, tasks naming it wait until it
    exists again. The default_pool returns to its size from [pools] default_slots."""
    client.delete_pool(team, name)
    click.echo(f"pool {team}/{name} deleted")
