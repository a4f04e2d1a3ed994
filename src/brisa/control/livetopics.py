"""Which live-update topics a caller may follow, and the log an `attempt:` topic streams.

A topic names one object (web/ui/live.py): `dag:<team>/<id>`, `run:<pk>`,
`attempt:<ti>/<try>`, `repo:<name>`, a team's new DAGs or runs (`dags:<team>`, `runs:<team>`;
`dags` and `runs` for every team), or a global one (`import-errors`, `health`). A topic of
a team the caller cannot see is left out exactly like one that names nothing, so a stream
never tells whether another team's object exists. Checked once when a stream opens (one
small read per stream, never per event).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from brisa.control.queries import Scope
from brisa.errors import NotFound
from brisa.logs import tail
from brisa.objectstore import ObjectStore
from brisa.repos.config import RepoSettings
from brisa.store import Store

GLOBAL = frozenset({"import-errors", "health"})
_DAG = re.compile(r"dag:([^/]+)/(.+)")
_RUN = re.compile(r"run:(\d{1,18})")
_ATTEMPT = re.compile(r"attempt:(\d{1,18})/(\d{1,9})")
_REPO = re.compile(r"repo:(.+)")
# A team's list gained a DAG or a run (the "N new — show" bars); without a team, across every
# team, followed only by a caller who sees them all.
_LISTED = re.compile(r"(?:dags|runs):(.+)")
EVERY_TEAMS = frozenset({"dags", "runs"})


class LiveTopics:
    def __init__(
        self,
        store: Store,
        objects: ObjectStore,
        clock: Callable[[], datetime],
        *,
        sources: Sequence[RepoSettings] = (),
    ) -> None:
        self._store = store
        self._objects = objects
        self._clock = clock
        self._sources = tuple(sources)

    def visible(self, scope: Scope, topics: Sequence[str]) -> list[str]:
        """The topics of `topics` that name an object the caller may see (in order)."""
        return [topic for topic in topics if self._team_sees(scope, topic)]

    def _team_sees(self, scope: Scope, topic: str) -> bool:
        if topic in GLOBAL:
            return True
        if topic in EVERY_TEAMS:
            return scope.teams is None
        if listed := _LISTED.fullmatch(topic):
            return scope.sees(listed.group(1))
        team = self._team_of(topic)
        return team is not None and scope.sees(team)

    def _team_of(self, topic: str) -> str | None:
        if dag := _DAG.fullmatch(topic):
            return dag.group(1)
        if repo := _REPO.fullmatch(topic):
            source = next((s for s in self._sources if s.name == repo.group(1)), None)
            return source.owner if source else None
        if run := _RUN.fullmatch(topic):
            return self._run_team(int(run.group(1)))
        if attempt := _ATTEMPT.fullmatch(topic):
            ti = self._store.tasks_by_id([int(attempt.group(1))]).get(int(attempt.group(1)))
            return self._run_team(ti.run_pk) if ti else None
        return None

    def _run_team(self, run_pk: int) -> str | None:
        try:
            return self._store.get_run_by_pk(run_pk).team
        except NotFound:
            return None

    def follower(
        self, scope: Scope, ti_id: int, try_number: int, offset: int
    ) -> tail.Follower | None:
        """Follows the log of try `try_number` of task instance `ti_id` from byte `offset`;
        None when there is no such attempt the caller may see. The follower does not sleep:
        its caller waits between polls (`tail.POLL_INTERVAL`) without holding a thread."""
        ti = self._store.tasks_by_id([ti_id]).get(ti_id)
        if ti is None or not 1 <= try_number <= ti.try_number:
            return None
        try:
            run = self._store.get_run_by_pk(ti.run_pk)
        except NotFound:
            return None
        if not scope.sees(run.team):
            return None
        return tail.Follower(
            self._objects,
            self._store,
            run,
            ti,
            try_number,
            offset,
            self._clock,
            monotonic=time.monotonic,
            sleep=lambda _seconds: None,
        )
