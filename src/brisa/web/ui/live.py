"""Names of live-update topics and their Server-Sent-Events event names (UI.md A.1-3).

A page subscribes to topics (`dag:team/dag_id`, `run:<run pk>`, `attempt:<ti id>/<try>`,
`repo:<name>`, `import-errors`, `health`); an element listens for its topic's event name
(`hx-trigger="sse:{{ live_event(topic) }}"`). Event names are derived from the topic by one
function, so the stream and the templates always agree, whatever characters an id holds.
"""

from __future__ import annotations

import hashlib


def dag_topic(team: str, dag_id: str) -> str:
    return f"dag:{team}/{dag_id}"


def run_topic(run_pk: int) -> str:
    return f"run:{run_pk}"


def attempt_topic(ti_id: int, try_number: int) -> str:
    return f"attempt:{ti_id}/{try_number}"


def attempt_log_topic(ti_id: int, try_number: int, offset: int, next_line: int) -> str:
    """The attempt's topic for a page that shows its log up to byte `offset` (whose next line
    is number `next_line`): the stream sends its invalidations and the log lines from there
    (`log` events; docs/ui.md "Live updates")."""
    return f"{attempt_topic(ti_id, try_number)}@{offset}:{next_line}"


def repo_topic(name: str) -> str:
    return f"repo:{name}"


def live_event(topic: str) -> str:
    """The SSE event name for `topic`: `ch-` and 16 hex digits (safe in hx-trigger)."""
    return "ch-" + hashlib.sha256(topic.encode()).hexdigest()[:16]


def new_dags_topics(teams: frozenset[str] | None, team: str | None) -> list[str]:
    """What the DAG list's "N new DAGs — show" bar follows: the team shown, else every team
    the caller sees (`dags` when that is every team)."""
    if team is not None:
        return [f"dags:{team}"]
    return ["dags"] if teams is None else [f"dags:{t}" for t in sorted(teams)]


def new_runs_topics(teams: frozenset[str] | None) -> list[str]:
    """What the runs list's "N new — show" bar follows: the teams it searches (`runs` when
    that is every team)."""
    return ["runs"] if teams is None else [f"runs:{t}" for t in sorted(teams)]
