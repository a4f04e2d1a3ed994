"""Log retention: deleting attempt logs older than a cutoff, by hand or hourly by housekeeping.

Only objects of the attempt log layout (`<team>/<dag>/<run>/<task>/attempt=<n>/<file>`) are
considered, so code snapshot tarballs kept in the same store are never touched. An attempt's
log goes as a whole, once its newest object is older than the cutoff: deleting the old chunks
of an attempt that is still writing would shift the offsets its readers hold.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from brisa.objectstore import ObjectInfo, ObjectStore

log = logging.getLogger("brisa.logs.retention")

_ATTEMPT_OBJECT = re.compile(r"^((?:[^/]+/){4}attempt=\d+/)[^/]+$")
DELETE_BATCH = 1000  # keys per delete call (S3 deletes at most 1000 objects per request)
EVERY = timedelta(hours=1)
FIRST_AFTER = timedelta(minutes=1)  # leave a starting process alone for a moment


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


class Retention:
    """Prunes logs older than `keep`: one pass per `run`, which housekeeping calls about once
    an hour (`EVERY`), the first time `FIRST_AFTER` its start."""

    def __init__(
        self, store: ObjectStore, keep: timedelta, *, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.keep = keep
        self.clock = clock

    def run(self) -> Pruned | None:
        """Delete what is older than `keep` now; None (and the error logged) if that failed."""
        cutoff = self.clock() - self.keep
        try:
            done = prune(self.store, cutoff)
        except Exception:
            log.exception("pruning logs older than %s failed; trying again in an hour", cutoff)
            return None
        if done.objects:
            log.info(
                "deleted the logs of %d attempts (%d objects, %d bytes) older than %s",
                done.attempts,
                done.objects,
                done.bytes,
                cutoff.isoformat(),
            )
        return done
