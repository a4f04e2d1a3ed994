"""The attempt lifecycle as the worker drives it: start, heartbeat, finish.

The REST layer authenticates the worker's token (`authenticate`) and calls these; the retry
decision on a failure is `core.retry.failure_outcome`, the same rule the scheduler uses for
lost workers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from brisa.core import tokens
from brisa.core.records import AttemptRef, CodeRef, WorkItem
from brisa.core.retry import failure_outcome
from brisa.core.states import TaskState
from brisa.errors import Conflict, NotFound, Unauthorized
from brisa.repos.config import RepoSettings
from brisa.store import Store
from brisa.store.actors import acting_as
from brisa.store.attempts import WriterBusy, without_waiting

# Who the transition record names for the moves an attempt reports about itself.
ACTOR = "worker"

Clock = Callable[[], datetime]
R = TypeVar("R")
# Checks that a pod token is the projected token of the pod Brisa launched for an attempt of a
# team (`executor.kubernetes.podidentity.PodIdentity`); raises Unauthorized or Forbidden.
PodIdentity = Callable[[str, AttemptRef, str], None]


class Deferred(Exception):
    """`ExecutionService.at_once`: the call would have waited for another writer and wrote
    nothing; run it again where waiting blocks nobody (a worker thread)."""


@dataclass(frozen=True)
class Worker:
    """An authenticated caller of the execution API: the attempt, and its token's digest
    (None only for an attempt queued without a token, as some tests do)."""

    ref: AttemptRef
    digest: str | None


class ExecutionService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        max_return_bytes: int,
        on_change: Callable[[], None] = lambda: None,
        sources: Mapping[str, RepoSettings] | None = None,
        on_finished: Callable[[TaskState], None] = lambda _: None,
        pods: PodIdentity | None = None,
    ) -> None:
        self.store = store
        self.pods = pods  # the Kubernetes executor's pod identities (None: no pods)
        self.on_finished = on_finished  # counts the outcome (brisa_task_attempts_ended_total)
        self.clock = clock
        self.max_return_bytes = max_return_bytes
        self.on_change = on_change
        self.sources = dict(sources or {})
        # SQLite: a worker's call costs least run at once on the API's event loop, when the
        # one write lock is free (ADR 0036); PostgreSQL's round trips are waited in threads.
        self.inline = store.backend == "sqlite"

    def at_once(self, call: Callable[[], R]) -> R:
        """`call()` (a `*_with_token` call) without waiting for another writer: raises
        Deferred when the database's write lock is taken, having written nothing."""
        try:
            with without_waiting():
                return call()
        except WriterBusy as exc:
            raise Deferred(str(exc)) from exc

    def authenticate(self, ref: AttemptRef, token: str) -> Worker:
        """The worker of `ref`, if `token` is its current token (core.tokens.verify): raises
        Unauthorized, or Conflict when the attempt is over."""
        if not token:
            raise Unauthorized("missing execution token (Authorization: Bearer ...)")
        return Worker(ref, tokens.verify(token, ref, self.store.credential(ref)))

    def exchange(self, ref: AttemptRef, pod_token: str) -> str:
        """The execution token of a queued attempt, for the pod Brisa launched for it, which
        proves it with its projected service account token (ADR 0029). A new token is issued
        (any earlier one is void): a worker whose answer was lost may ask again until the
        attempt starts; from then on (or once it is over) the answer is Conflict."""
        if self.pods is None:
            raise NotFound("this Brisa runs no pods ([executor] kind is not kubernetes)")
        if not pod_token:
            raise Unauthorized(
                "missing pod token (Authorization: Bearer <the pod's projected token>)"
            )
        team = self.store.task_team(ref.ti_id)
        if team is None:
            raise NotFound(f"no task instance {ref.ti_id}")
        self.pods(team, ref, pod_token)
        issued = tokens.issue(ref)
        if not self.store.set_token(ref, issued.digest):
            raise Conflict(
                f"attempt {ref.try_number} of task instance {ref.ti_id} is not waiting for its "
                "worker (started already, or over): a pod's token is exchanged before its "
                "attempt starts, never after"
            )
        return issued.token

    def start_with_token(self, ref: AttemptRef, token: str, *, hostname: str, pid: int) -> WorkItem:
        """`authenticate` then `start`, with the token checked by the start's own guarded
        update (one read fewer on the hot path). Answers what `authenticate` would for a token
        that is wrong, and reads or writes nothing for it (ADR 0026)."""
        worker = Worker(ref, self._presented(ref, token))
        try:
            return self.start(worker, hostname=hostname, pid=pid)
        except (Conflict, NotFound):
            self.authenticate(ref, token)  # Unauthorized for a wrong token, else as it was
            raise

    def heartbeat_with_token(self, ref: AttemptRef, token: str) -> None:
        """`authenticate` then `heartbeat`, the token checked by the heartbeat's update."""
        digest = self._presented(ref, token)
        if not self.store.heartbeat(ref, self.clock(), token_digest=digest):
            self.authenticate(ref, token)
            raise Conflict("this attempt is no longer current; stop the task")

    def finish_with_token(
        self,
        ref: AttemptRef,
        token: str,
        *,
        success: bool,
        return_value: Any = None,
        error: str | None = None,
    ) -> TaskState:
        """`authenticate` then `finish`, the token checked by the finish's guarded update:
        a wrong token records nothing and is answered as `authenticate` answers it."""
        digest = self._presented(ref, token)
        try:
            return self.finish(
                ref, success=success, return_value=return_value, error=error, holder=digest
            )
        except (Conflict, NotFound):
            self.authenticate(ref, token)
            raise

    @staticmethod
    def _presented(ref: AttemptRef, token: str) -> str:
        if not token:
            raise Unauthorized("missing execution token (Authorization: Bearer ...)")
        return tokens.digest(token, ref)

    def start(self, worker: Worker, *, hostname: str, pid: int) -> WorkItem:
        with acting_as(ACTOR):
            item = self.store.start_attempt(
                worker.ref, hostname=hostname, pid=pid, now=self.clock(), token_digest=worker.digest
            )
        return dataclasses.replace(item, code=code_location(item, self._source(item)))

    def _source(self, item: WorkItem) -> RepoSettings | None:
        """The run's repository as configured here, else as the DAG processor registered it
        (an API configured without the [repos.NAME] tables)."""
        source = self.sources.get(item.repo)
        if source is None and item.code_version:
            try:
                known = self.store.get_repo(item.repo)
            except NotFound:
                return None
            source = RepoSettings(name=known.name, url=known.url, subdir=known.subdir)
            self.sources[item.repo] = source
        return source

    def heartbeat(self, ref: AttemptRef) -> None:
        """Raise Conflict when the attempt is no longer current: the worker must stop."""
        if not self.store.heartbeat(ref, self.clock()):
            raise Conflict("this attempt is no longer current; stop the task")

    def finish(
        self,
        ref: AttemptRef,
        *,
        success: bool,
        return_value: Any = None,
        error: str | None = None,
        holder: str | None = None,
    ) -> TaskState:
        """Record the outcome; a failure becomes up_for_retry while retries remain. Given
        `holder`, only while that is the digest of the attempt's current token."""
        now = self.clock()
        if success:
            size = len(json.dumps(return_value))
            if size > self.max_return_bytes:
                success, return_value = False, None
                error = (
                    f"return value is {size} bytes, over the limit of "
                    f"{self.max_return_bytes}; write large data to storage and return a path"
                )
        if success:
            state, next_try_at = TaskState.SUCCESS, None
        else:
            ti, task = self.store.task_for(ref)
            state, next_try_at, error = failure_outcome(task, ti, now, error or "task failed")
        with acting_as(ACTOR):
            recorded = self.store.finish_attempt(
                ref,
                state,
                now=now,
                return_value=return_value,
                error=error,
                next_try_at=next_try_at,
                token_digest=holder,
            )
        if not recorded:
            raise Conflict("this attempt is no longer current; its result was not recorded")
        self.on_finished(state)
        self.on_change()
        return state


def code_location(item: WorkItem, source: RepoSettings | None) -> CodeRef:
    """Where the worker finds the code its run is pinned to. Never holds a credential: the
    URL is for a last-resort fetch of a public commit; the worker first looks for the local
    snapshot, then the snapshot's tarball in the object store."""
    return code_ref(item.repo, item.code_version, source)


def code_ref(repo: str, sha: str, source: RepoSettings | None) -> CodeRef:
    """`code_location` of a run of `repo` pinned to `sha` (also the key of its warm import)."""
    return CodeRef(
        repo=repo,
        sha=sha,
        subdir=source.subdir if source else "",
        url=source.url if source else "",
        path=str(Path(source.path).absolute()) if source and source.path else "",
    )
