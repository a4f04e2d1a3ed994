"""The chaos driver: a PostgreSQL of its own, Brisa's processes, load through the REST API,
random faults for a while, then a bounded wait for every task to finish and the checks.

`python -m brisa.testing.chaos` (what `make chaos` runs) reads its knobs from the
environment (`Config.from_env`) and prints the report; exit status 1 when a check failed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from brisa.core.records import TransitionRecord
from brisa.store import open_store
from brisa.testing.chaos import checker
from brisa.testing.chaos.cluster import POOL, Cluster
from brisa.testing.chaos.faults import KINDS, Faults
from brisa.testing.chaos.postgres import OwnPostgres
from brisa.testing.chaos.proxy import CuttableProxy

log = logging.getLogger("brisa.chaos")
SHARED_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class Config:
    duration: float = 600.0  # seconds of load and faults
    tasks: int = 3000  # tasks triggered over that time (rounded up to whole runs)
    schedulers: int = 3
    gap: tuple[float, float] = (3.0, 8.0)  # seconds between two faults
    lease_ttl: float = 15.0  # a SIGSTOP lasts longer than this
    settle: float = 300.0  # bound: every task finished this long after the faults stop
    seed: int = 0  # 0: a random seed (printed in the report)
    width: int = 8  # tasks of a run between its first and last
    pool_slots: int = 4  # slots of the pool the middle tasks take (0: the default pool)
    faults: tuple[str, ...] = KINDS
    scheduler_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """CHAOS_DURATION, CHAOS_TASKS, CHAOS_SCHEDULERS, CHAOS_GAP ("3-8"), CHAOS_LEASE_TTL,
        CHAOS_SETTLE, CHAOS_SEED, CHAOS_POOL_SLOTS, CHAOS_FAULTS ("kill,stop,cut,restart"), and any
        CHAOS_SCHEDULER_ENV_<NAME> passed to the schedulers as <NAME>."""
        get = environ.get
        gap = get("CHAOS_GAP", "3-8").split("-")
        prefix = "CHAOS_SCHEDULER_ENV_"
        return cls(
            duration=float(get("CHAOS_DURATION", cls.duration)),
            tasks=int(get("CHAOS_TASKS", cls.tasks)),
            schedulers=int(get("CHAOS_SCHEDULERS", cls.schedulers)),
            gap=(float(gap[0]), float(gap[-1])),
            lease_ttl=float(get("CHAOS_LEASE_TTL", cls.lease_ttl)),
            settle=float(get("CHAOS_SETTLE", cls.settle)),
            seed=int(get("CHAOS_SEED", cls.seed)),
            pool_slots=int(get("CHAOS_POOL_SLOTS", cls.pool_slots)),
            faults=tuple(f for f in get("CHAOS_FAULTS", ",".join(KINDS)).split(",") if f),
            scheduler_env={k[len(prefix) :]: v for k, v in environ.items() if k.startswith(prefix)},
        )


@dataclass
class Result:
    seed: int
    database: str
    schedulers: int
    duration: float
    pool_slots: int = 0  # the middle tasks' pool (0: none of their own)
    pool_peak: int = 0  # the most tasks that pool held at once
    runs: int = 0  # in the database
    triggered: int = 0  # triggers the API answered (one whose answer was lost still counts above)
    tasks: int = 0
    states: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    transitions: int = 0
    actors: dict[str, int] = field(default_factory=dict)
    executions: int = 0
    reruns: int = 0  # executions of a task beyond its first (new tries)
    taken: int = 0  # running attempts a scheduler ended (judged lost): no worker is killed
    violations: list[str] = field(default_factory=list)
    violation_kinds: dict[str, int] = field(default_factory=dict)
    settle_bound: float = 0.0
    finished_after: float | None = None  # seconds from the faults' end to the last finish

    def render(self) -> str:
        lines = [
            f"chaos run (seed {self.seed}): {self.schedulers} schedulers, "
            f"{self.duration:g} s of faults, database: {self.database}, "
            + (
                f"pool of {self.pool_slots} slots (at most {self.pool_peak} held at once)"
                if self.pool_slots
                else "no pool"
            ),
            f"runs: {self.runs} ({self.triggered} triggers answered), tasks: {self.tasks} "
            f"({_counts(self.states)})",
            f"faults: {sum(self.faults.values())} ({_counts(self.faults)})",
            f"transitions: {self.transitions} ({_counts(self.actors)}); "
            f"executions in the witness file: {self.executions} "
            f"({self.reruns} beyond a task's first); running attempts ended by a scheduler "
            f"(judged lost, though no worker is ever killed): {self.taken}",
            f"violations: {len(self.violations)} ({_counts(self.violation_kinds)})",
        ]
        lines += [f"  - {v}" for v in self.violations[:30]]
        if len(self.violations) > 30:
            lines.append(f"  ... and {len(self.violations) - 30} more")
        finished = "not all" if self.finished_after is None else f"{self.finished_after:.1f} s"
        lines.append(
            f"every task finished after the faults stopped: {finished} "
            f"(bound {self.settle_bound:g} s)"
        )
        return "\n".join(lines)


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


@contextlib.contextmanager
def database(folder: Path, allow_restart: bool) -> Iterator[tuple[str, int, Any, str]]:
    """(SQLAlchemy URL, port, restart function or None, description) of a new database: on a
    cluster of our own, else on the shared server with restarts off."""
    import psycopg

    pg: OwnPostgres | None = None
    try:
        pg = OwnPostgres()
        pg.init()
        pg.start()
        pg.wait_ready()
        pg.create_database("brisa")
    except (OSError, KeyError, RuntimeError, subprocess.SubprocessError, psycopg.Error) as exc:
        # No binaries, no `postgres` user, initdb refused, ...: the shared server instead.
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if pg is not None:
            pg.remove()
        pg = None
        log.warning("no PostgreSQL of our own (%s): the shared server, no restarts", reason)
    if pg is not None:

        def restart() -> None:
            assert pg is not None
            pg.restart()

        try:
            yield pg.url("brisa"), pg.port, restart if allow_restart else None, "own cluster"
        finally:
            pg.remove()
        return
    name = f"brisa_chaos_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SHARED_SERVER}/{name}", 5432, None, "shared server (no restarts)"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(config: Config, folder: Path | None = None) -> Result:
    """One chaos run; every process it started is killed at the end, whatever happens."""
    seed = config.seed or random.randrange(1, 2**31)
    rng = random.Random(seed)
    own = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="brisa-chaos-"))
    try:
        with database(folder, "restart" in config.faults) as (url, port, restart, described):
            result = Result(seed, described, config.schedulers, config.duration, config.pool_slots)
            open_store(url, migrate=True).close()
            proxy = CuttableProxy(port)
            proxied = url.replace(f":{port}/", f":{proxy.port}/")
            cluster = Cluster(
                folder,
                url,
                proxied,
                schedulers=config.schedulers,
                width=config.width,
                pool_slots=config.pool_slots,
                # A SIGSTOP outlasts the schedulers' lease: a stopped one loses it.
                scheduler_env={
                    "BRISA__SCHEDULER__LEASE_TTL": f"{config.lease_ttl:g}",
                    **config.scheduler_env,
                },
            )
            try:
                cluster.start()
                cluster.wait_ready(90)
                faults = Faults(
                    cluster,
                    proxy,
                    rng=rng,
                    gap=config.gap,
                    stop_for=config.lease_ttl + 2,
                    restart_db=restart,
                    kinds=config.faults,
                )
                _load_and_faults(config, cluster, faults, result)
                faults.heal()
                result.faults = dict(faults.counts)
                stopped_at = _db_now(url)
                _settle(url, config.settle)
                _check(url, cluster, result, stopped_at)
                result.settle_bound = config.settle
            finally:
                cluster.kill_all()
                proxy.close()
            return result
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def _load_and_faults(config: Config, cluster: Cluster, faults: Faults, result: Result) -> None:
    """Trigger the runs evenly over `duration` while faults are injected on another thread."""
    runs = math.ceil(config.tasks / cluster.tasks_per_run)
    stop = threading.Event()
    injector = threading.Thread(target=faults.run, args=(stop,), name="faults", daemon=True)
    injector.start()
    start = time.monotonic()
    try:
        while result.triggered < runs and time.monotonic() - start < config.duration:
            due = start + result.triggered * config.duration / runs
            time.sleep(max(0.0, due - time.monotonic()))
            if cluster.trigger() is not None:
                result.triggered += 1
            else:
                time.sleep(0.5)  # the API or its database is down: try again shortly
        time.sleep(max(0.0, start + config.duration - time.monotonic()))
    finally:
        stop.set()
        injector.join(30)
    log.info("load and faults over: %d runs triggered", result.triggered)


def _retrying(url: str, query: str, timeout: float = 60.0) -> Any:
    """The rows of `query`, retried while the database restarts."""
    deadline = time.monotonic() + timeout
    while True:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(query)).all()
        except sa.exc.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            engine.dispose()


def _db_now(url: str) -> datetime:
    (row,) = _retrying(url, "SELECT timezone('UTC', now())")
    return row[0]  # type: ignore[no-any-return]


def _settle(url: str, bound: float) -> None:
    """Wait until no task is unfinished, at most `bound` seconds."""
    unfinished = (
        "SELECT count(*) FROM task_instances WHERE state NOT IN "
        "('success', 'failed', 'upstream_failed', 'skipped', 'cancelled')"
    )
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if _retrying(url, unfinished)[0][0] == 0:
            return
        time.sleep(1.0)


def _check(url: str, cluster: Cluster, result: Result, stopped_at: datetime) -> None:
    store = open_store(url)
    try:
        moves: list[TransitionRecord] = store.transitions_after(0)
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT ti.id, ti.state, ti.task_id, r.run_id FROM task_instances ti "
                    "JOIN dag_runs r ON r.id = ti.run_pk"
                )
            ).all()
    finally:
        store.close()
    states = {row.id: row.state for row in rows}
    ti_of = {(row.run_id, row.task_id): row.id for row in rows}
    text = cluster.witness.read_text() if cluster.witness.exists() else ""
    executions = checker.parse_witness(text, ti_of)
    slots = {POOL: cluster.pool_slots} if cluster.pool_slots else {}
    pool_of = {row.id: POOL for row in rows if row.task_id not in ("first", "last")}
    violations = checker.check(moves, executions, states, slots=slots, pool_of=pool_of)
    result.pool_peak = checker.pool_peaks(moves, pool_of).get(POOL, 0) if slots else 0
    result.tasks = len(states)
    result.runs = len({row.run_id for row in rows})
    result.states = dict(Counter(states.values()))
    result.transitions = len(moves)
    result.actors = dict(Counter(m.actor.split(":")[0] for m in moves))
    result.executions = len(executions)
    result.reruns = len(executions) - len({e.ti_id for e in executions})
    result.taken = sum(m.from_state == "running" and m.actor.startswith("scheduler") for m in moves)
    with open(cluster.folder / "transitions.csv", "w") as out:
        for m in moves:
            at = m.at.isoformat()
            out.write(
                f"{m.id},{m.ti_id},{m.try_number},{m.from_state},{m.to_state},{m.actor},{at}\n"
            )
    result.violations = [str(v) for v in violations]
    result.violation_kinds = dict(Counter(v.kind for v in violations))
    last = checker.last_finish(moves)
    if not checker.unfinished(states) and last is not None:
        result.finished_after = max(0.0, (last.replace(tzinfo=None) - stopped_at).total_seconds())


def main(environ: Mapping[str, str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = Config.from_env(environ)
    keep = environ.get("CHAOS_KEEP")  # a folder to keep the logs, witness and transitions in
    result = run(config, Path(keep) if keep else None)
    print(result.render())
    out = environ.get("CHAOS_JSON")
    if out:
        Path(out).write_text(json.dumps(asdict(result), indent=2))
    return 1 if result.violations or result.finished_after is None else 0
