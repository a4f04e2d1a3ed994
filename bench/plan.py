"""How much of each workload a run does: the full suite, or the quick one (under a minute)
that `make test` runs so the driver cannot rot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    standalone_repetitions: int
    idle_settle: float  # W1: seconds after launch before measuring
    idle_window: float  # W1: seconds of CPU measurement
    idle_after_runs: float  # W1: seconds after the last run before measuring again
    fanouts: tuple[int, ...]  # W2 sizes
    chain: int  # W3 length
    light_chain: int  # W3: length of issue 14's chain of lightweight tasks
    worker_repetitions: int  # W5
    cold_repetitions: int  # W5
    scale_dags: int  # W6
    scale_tasks: int  # W6, per DAG
    scale_backends: tuple[str, ...]
    scale_repetitions: int
    log_print_bytes: int  # W7: what the printing task prints, in 100-byte lines
    log_repetitions: int  # W7: pairs with / without shipping, log process CPU runs, reads
    log_follow_runs: int  # W7
    log_follow_lines: int  # W7: lines of the follow-latency task, one every 100 ms
    log_read_chunks: int  # W7: chunks of the finished log that is read back ...
    log_chunk_bytes: int  # ... and the size of each
    repo_files: int  # W8: DAG files in the repository
    repo_period: float  # W8: [repos.bench] period, seconds
    repo_commits: int  # W8: new commits found by the periodic sync
    repo_requests: int  # W8: new commits with a sync request
    repo_reparses: int  # W8: one-file commits checked for re-parsing
    repo_noop_passes: int  # W8: sync passes with nothing new
    kube_repetitions: int = 3  # W9: measured 100-task fan-outs on the fake API server
    kube_chaos_runs: int = 1000  # W9: K3's randomized reconciler runs (and 410 recoveries / 50)
    kube_restart_pods: int = 200  # W9 (K8): pods running when every scheduler restarts; 0: not run
    ui_dags: int = 1000  # W10: DAGs in the DAG list ...
    ui_runs: int = 50  # ... and finished runs of each
    ui_requests: int = 30  # W10: timed requests per page (p95)
    ui_log_mb: int = 100  # W10: size of the log the viewer reads
    ui_log_rounds: int = 3  # W10: reads of that log
    ui_tabs: int = 20  # W10: browser tabs while the workers run a chain ...
    ui_chain: int = 10  # ... of this many tasks ...
    ui_chain_runs: int = 3  # ... this many times per case (quiet, streaming, hammering)
    ui_browser_seconds: float = 60.0  # W10: a live grid's requests counted in Chromium (0: not)


FULL = Plan(
    name="full",
    standalone_repetitions=3,
    idle_settle=60.0,
    idle_window=30.0,
    idle_after_runs=10.0,
    fanouts=(100, 1000),
    chain=20,
    light_chain=40,
    worker_repetitions=10,
    cold_repetitions=5,
    scale_dags=1000,
    scale_tasks=10,
    scale_backends=("sqlite", "postgresql"),
    scale_repetitions=3,
    log_print_bytes=10_000_000,
    log_repetitions=7,
    log_follow_runs=3,
    log_follow_lines=100,
    log_read_chunks=1000,
    log_chunk_bytes=10_000,
    repo_files=1000,
    repo_period=5.0,
    repo_commits=5,
    repo_requests=10,
    repo_reparses=3,
    repo_noop_passes=20,
)

QUICK = Plan(
    kube_repetitions=1,
    kube_chaos_runs=50,
    kube_restart_pods=0,  # PostgreSQL and 5 processes: the full suite only
    ui_dags=100,
    ui_requests=10,
    ui_log_mb=5,
    ui_log_rounds=1,
    ui_tabs=5,
    ui_chain=5,
    ui_chain_runs=1,
    ui_browser_seconds=0.0,
    name="quick",
    standalone_repetitions=1,
    idle_settle=5.0,
    idle_window=3.0,
    idle_after_runs=2.0,
    fanouts=(100,),
    chain=20,
    light_chain=40,
    worker_repetitions=3,
    cold_repetitions=3,
    scale_dags=50,
    scale_tasks=10,
    scale_backends=("sqlite",),
    scale_repetitions=1,
    log_print_bytes=1_000_000,
    log_repetitions=1,
    log_follow_runs=1,
    log_follow_lines=30,
    log_read_chunks=1000,
    log_chunk_bytes=10_000,
    repo_files=100,
    repo_period=2.0,
    repo_commits=2,
    repo_requests=3,
    repo_reparses=1,
    repo_noop_passes=5,
)
