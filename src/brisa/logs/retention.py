"""Log retention: deleting attempt logs older than a cutoff, by hand or hourly by the scheduler.

Only objects of the attempt log layout (`<team>/<dag>/<run>/<task>/attempt=<n>/<file>`) are
considered, so code snapshot tarballs kept in the same store are never touched. An attempt's
log goes as a whole, once its newest object is older than the cutoff: deleting the old chunks
of an attempt that is still writing would shift the offsets its readers hold.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from brisa.objectstore import ObjectInfo, ObjectStore

log = logging.getLogger("brisa.logs.retention")

_ATTEMPT_OBJECT = re.compile(r"^((?:[^/]+/){4}attempt=\d+/)[^/]+$")
DELETE_BATCH = 1000  # keys per delete call (S3 deletes at most 1000 objects per request)
EVERY = timedelta(hours=1)
FIRST_AFTER = timedelta(minutes=1)  # leave a starting scheduler alone for a moment


@dataclass(frozen=True)
class Pruned:
    attempts: int
    objects: int
    bytes: int


def prune(store: ObjectStore, cutoff: datetime, *, dry_run: bool = False) -> Pruned:
    """Delete the logs of attempts whose every object was last modified before `cutoff`.

    With `dry_run`, delete nothing and return what would have been deleted.
    """
    attempts: dict[str, list[ObjectInfo]] = {}
    for info in store.list(""):
        match = _ATTEMPT_OBJECT.match(info.key)
        if match:
            attempts.setdefault(match.group(1), []).append(info)
    old = [infos for infos in attempts.values() if max(i.modified for i in infos) < cutoff]
    doomed = [info.key for infos in old for info in infos]
    if not dry_run:
        for start in range(0, len(doomed), DELETE_BATCH):
            store.delete(doomed[start : start + DELETE_BATCH])
    size = sum(info.size for infos in old for info in infos)
    return Pruned(attempts=len(old), objects=len(doomed), bytes=size)


class Running(Protocol):
    def is_alive(self) -> bool: ...


def _in_thread(work: Callable[[], None]) -> Running:
    thread = threading.Thread(target=work, name="log-retention", daemon=True)
    thread.start()
    return thread


class Retention:
    """Prunes logs older than `keep` about once an hour; the scheduler calls `tick` every pass.

    `tick` is a comparison when no prune is due. A due prune runs in a thread of its own
    (`spawn`), so listing a large store never delays scheduling; a prune still running when
    the next one is due is not doubled.
    """

    def __init__(
        self,
        store: ObjectStore,
        keep: timedelta,
        *,
        started_at: datetime,
        spawn: Callable[[Callable[[], None]], Running] = _in_thread,
    ) -> None:
        self.store = store
        self.keep = keep
        self.spawn = spawn
        self.next_at = started_at + FIRST_AFTER
        self._running: Running | None = None

    def tick(self, now: datetime) -> None:
        if now < self.next_at or (self._running is not None and self._running.is_alive()):
            return
        self.next_at = now + EVERY
        cutoff = now - self.keep
        self._running = self.spawn(lambda: self._prune(cutoff))

    def _prune(self, cutoff: datetime) -> None:
        try:
            done = prune(self.store, cutoff)
        except Exception:
            log.exception("pruning logs older than %s failed; trying again in an hour", cutoff)
            return
        if done.objects:
            log.info(
                "deleted the logs of %d attempts (%d objects, %d bytes) older than %s",
                done.attempts,
                done.objects,
                done.bytes,
                cutoff.isoformat(),
            )
