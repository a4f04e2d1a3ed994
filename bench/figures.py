"""The figures the suite reports, their units and their budgets (from the design document's
"Performance budgets"), and how a list of samples is summarised against a budget.

A budget is an upper bound compared with the median. A figure over budget is a finding to
report, never a reason to change the budget here.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    key: str
    workload: str
    label: str
    unit: str
    budget: float | None = None
    budget_text: str = ""


def cpu_figures(n: int) -> list[Figure]:
    """W2's CPU per attempt (bench/cpu.py): the total (issue 14's budget) and its shares."""
    tasks = f"{n:,} tasks"
    shares = [
        ("main", "the main process (scheduler, execution API)"),
        ("forkserver", "the worker fork server and its warm processes"),
        ("workers", "the workers"),
        ("logs", "the log processes (and any other short-lived process; the workers' exits)"),
        ("logserver", "… the log server itself (ADR 0025)"),
    ]
    return [
        Figure(f"fanout{n}.cpu", "W2", f"{tasks}: CPU per no-op attempt, all processes", "ms",
               10.0, "≤ 10 ms"),
        *(Figure(f"fanout{n}.cpu_{kind}", "W2", f"{tasks}: … of which {who}", "ms")
          for kind, who in shares),
        Figure(f"fanout{n}.cpu_worker_faults", "W2",
               f"{tasks}: minor page faults per worker (copy-on-write copies)", "faults"),
    ]  # fmt: skip


WORKLOADS = {
    "W0": "start-up",
    "W1": "idle footprint",
    "W2": "fan-out",
    "W3": "chain",
    "W4": "new DAG",
    "W5": "worker cost",
    "W6": "scheduler scale",
    "W7": "task logs",
}

FIGURES = [
    Figure("start.api_empty", "W0", "launch → API answering, empty state", "s", 2.0, "≤ 2 s"),
    Figure("start.dag_empty", "W0", "launch → DAG listed, empty state", "s"),
    Figure("start.api_existing", "W0", "launch → API answering, existing DB", "s", 2.0, "≤ 2 s"),
    Figure("start.dag_existing", "W0", "launch → DAG listed, existing DB", "s"),
    Figure("idle.pss", "W1", "PSS of all Brisa processes, one DAG", "MiB", 150.0, "≤ 150 MiB"),
    Figure("idle.cpu", "W1", "CPU while idle (% of one core)", "%"),
    Figure("idle.processes", "W1", "Brisa processes while idle", "count"),
    Figure(
        "idle.pss_after_runs",
        "W1",
        "PSS of all Brisa processes, idle after the runs",
        "MiB",
        150.0,
        "≤ 150 MiB",
    ),
    Figure("idle.processes_after_runs", "W1", "Brisa processes, idle after the runs", "count"),
    Figure("fanout100.seconds", "W2", "100 tasks: trigger → run success", "s", 2.0, "≤ 2 s"),
    Figure("fanout100.rate", "W2", "100 tasks: throughput", "tasks/s"),
    *cpu_figures(100),
    Figure("fanout1000.seconds", "W2", "1,000 tasks: trigger → run success", "s"),
    Figure("fanout1000.rate", "W2", "1,000 tasks: throughput", "tasks/s"),
    *cpu_figures(1000),
    Figure(
        "fanout1000.cpu_growth",
        "W2",
        "CPU per no-op attempt, 1,000 tasks against 100",
        "%",
        10.0,
        "≤ +10 %",
    ),
    Figure("chain20.seconds", "W3", "20 in a line: trigger → run success", "s"),
    Figure("chain20.gap_median", "W3", "gap end → next start, median", "ms", 50.0, "≤ 50 ms"),
    Figure("chain20.gap_max", "W3", "gap end → next start, max", "ms"),
    Figure(
        "light_chain40.seconds",
        "W3",
        "40 lightweight tasks in a line: trigger → run success",
        "s",
        0.5,
        "≤ 0.5 s",
    ),
    Figure(
        "light_chain40.gap_median",
        "W3",
        "40 lightweight: gap end → next start, median",
        "ms",
        10.0,
        "≤ 10 ms",
    ),
    Figure("newdag.seconds", "W4", "new file in DAG folder → listed by API", "s", 3.0, "≤ 3 s"),
    Figure(
        "worker.user_code",
        "W5",
        "fork server (default): launch → task function running",
        "ms",
        100.0,
        "≤ 100 ms",
    ),
    Figure("worker.start_call", "W5", "fork server: launch → `start` call received", "ms"),
    Figure("worker.exit", "W5", "fork server: launch → worker exited", "ms"),
    Figure(
        "worker_warm.user_code",
        "W5",
        "fork server, DAG file warm (the executor's default): launch → task function running",
        "ms",
        5.0,
        "≤ 5 ms",
    ),
    Figure("worker_warm.start_call", "W5", "fork server, warm: launch → `start` received", "ms"),
    Figure("worker_warm.exit", "W5", "fork server, warm: launch → worker exited", "ms"),
    Figure(
        "spawn.user_code",
        "W5",
        "spawn (new interpreter): launch → task function running",
        "ms",
        100.0,
        "≤ 100 ms",
    ),
    Figure("spawn.start_call", "W5", "spawn: launch → `start` call received", "ms"),
    Figure("spawn.exit", "W5", "spawn: launch → worker exited", "ms"),
    Figure("cold.python", "W5", "`python -c pass` (baseline)", "ms"),
    Figure("cold.import", "W5", "`python -c 'import brisa'`", "ms"),
    Figure("cold.help", "W5", "`brisa --help`", "ms"),
    Figure("sched.sqlite.rate", "W6", "SQLite: scheduling decisions", "decisions/s"),
    Figure("sched.sqlite.seconds", "W6", "SQLite: time in scheduling passes", "s"),
    Figure("sched.sqlite.passes", "W6", "SQLite: scheduling passes", "count"),
    Figure("sched.sqlite.rss", "W6", "SQLite: peak RSS of the scheduler process", "MiB"),
    Figure("sched.postgresql.rate", "W6", "PostgreSQL: scheduling decisions", "decisions/s"),
    Figure("sched.postgresql.seconds", "W6", "PostgreSQL: time in scheduling passes", "s"),
    Figure("sched.postgresql.passes", "W6", "PostgreSQL: scheduling passes", "count"),
    Figure("sched.postgresql.rss", "W6", "PostgreSQL: peak RSS of the scheduler process", "MiB"),
    *(
        fig
        for backend, name in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL"))
        for fig in (
            Figure(
                f"sched.{backend}.transition_rate",
                "W6",
                f"{name}: state transitions applied per second in passes (goal on "
                "PostgreSQL: ≥ 2,000/s)",
                "transitions/s",
            ),
            Figure(
                f"sched.{backend}.commits_per_transition",
                "W6",
                f"{name}: commits per transition in passes",
                "commits",
            ),
        )
    ),
    *(
        fig
        for n in (1, 2, 3)
        for wake, how in (("notify", "wake-ups on"), ("poll", "wake-ups off"))
        for fig in (
            Figure(
                f"fleet.{n}.{wake}.wall_rate",
                "W6",
                f"PostgreSQL, {n} scheduler(s), {how}: transitions per second of wall time",
                "transitions/s",
            ),
            Figure(
                f"fleet.{n}.{wake}.pass_rate",
                "W6",
                f"PostgreSQL, {n} scheduler(s), {how}: transitions per second in passes",
                "transitions/s",
            ),
            Figure(
                f"fleet.{n}.{wake}.db_commits_per_transition",
                "W6",
                f"PostgreSQL, {n} scheduler(s), {how}: database commits per transition "
                "(workers' included)",
                "commits",
            ),
            Figure(
                f"fleet.{n}.{wake}.lock_waits_max",
                "W6",
                f"PostgreSQL, {n} scheduler(s), {how}: sessions waiting on a lock, "
                "most sampled at once",
                "count",
            ),
        )
    ),
    Figure("logs.print_plain", "W7", "task printing 100-byte lines, log store disabled", "ms"),
    Figure("logs.print_shipped", "W7", "the same task, its log shipped", "ms"),
    Figure("logs.overhead", "W7", "shipping overhead, % of the task's run time", "%", 5.0, "< 5 %"),
    Figure(
        "logs.overhead_one_core",
        "W7",
        "shipping overhead, worker and log process on one core",
        "%",
        5.0,
        "< 5 %",
    ),
    Figure("logs.log_cpu_per_mb", "W7", "CPU of the log process per MB printed", "ms/MB"),
    Figure("logs.noop_exit", "W7", "no-op task, its log shipped: launch → worker exited", "ms"),
    Figure("logs.follow_median", "W7", "running task: print → readable in the store, median", "s"),
    Figure(
        "logs.follow_max",
        "W7",
        "running task: print → readable in the store, max (chunk interval 1 s)",
        "s",
        2.0,
        "≤ 2 s",
    ),
    Figure(
        "logs.read_chunks",
        "W7",
        "finished log of 1,000 chunks, no full.log (killed worker): read whole",
        "ms",
        1000.0,
        "< 1 s",
    ),
    Figure("logs.read_full", "W7", "the same log as full.log: read whole", "ms", 1000.0, "< 1 s"),
]

# W8 git repository sync (bench/repo_sync.py). The budget "≤ period + 2 s" of a commit found
# by the periodic sync is checked on the time beyond the period, whatever the plan's period.
WORKLOADS["W8"] = "repository sync"
FIGURES += [
    Figure("reposync.first_publish", "W8", "launch → every DAG of the repository listed", "s"),
    Figure("reposync.commit", "W8", "new commit, no request: push → new DAG listed", "s"),
    Figure(
        "reposync.commit_beyond_period",
        "W8",
        "new commit, no request: push → listed, minus the period",
        "s",
        2.0,
        "≤ 2 s (period + 2 s)",
    ),
    Figure(
        "reposync.request", "W8", "new commit: sync request → new DAG listed", "s", 1.0, "≤ 1 s"
    ),
    Figure(
        "reposync.reparsed",
        "W8",
        "DAGs re-parsed after a commit changing one file",
        "count",
        1.0,
        "1 (the changed file)",
    ),
    Figure("reposync.first_pass", "W8", "syncer: first pass, publishing every file", "s"),
    Figure(
        "reposync.noop_pass", "W8", "syncer: pass when nothing changed", "ms", 100.0, "< 100 ms"
    ),
    Figure("reposync.publish_pass", "W8", "syncer: pass publishing a one-file commit", "ms"),
]

BY_KEY = {f.key: f for f in FIGURES}


def summarise(figure: Figure, samples: list[float]) -> dict[str, Any]:
    """min / median / max of the samples and the verdict against the budget, as JSON data."""
    out: dict[str, Any] = {
        "key": figure.key,
        "workload": figure.workload,
        "label": figure.label,
        "unit": figure.unit,
        "budget": figure.budget,
        "budget_text": figure.budget_text,
        "samples": samples,
        "min": min(samples) if samples else None,
        "median": statistics.median(samples) if samples else None,
        "max": max(samples) if samples else None,
        "status": "not run",
    }
    if samples:
        if figure.budget is None:
            out["status"] = "no budget"
        else:
            out["status"] = "pass" if out["median"] <= figure.budget else "over"
    return out


# W9 the Kubernetes executor against the fake API server (bench/kube.py).
WORKLOADS["W9"] = "Kubernetes executor"
FIGURES += [
    Figure(
        "kube.ready_to_create_median", "W9", "task ready → pod create request, median", "ms",
        50.0, "≤ 50 ms",
    ),
    Figure("kube.ready_to_create_max", "W9", "task ready → pod create request, max", "ms"),
    Figure(
        "kube.burst_to_create_median", "W9",
        "100 tasks ready at once: ready → pod create request, median", "ms",
    ),
    Figure(
        "kube.burst_to_create_max", "W9",
        "100 tasks ready at once: ready → pod create request, max", "ms",
    ),
    Figure("kube.create_rate", "W9", "pods created per second", "pods/s"),
    Figure(
        "kube.fanout_seconds", "W9", "100 container tasks: trigger → run success", "s",
        3.0, "≤ 3 s",
    ),
    # K11: a real cluster differs (scheduling, image pulls, kubelet start-up: seconds).
    Figure(
        "kube.trigger_to_running_p50", "W9",
        "K11: 100 container tasks: trigger → task running, p50 (fake API server)", "s",
    ),
    Figure(
        "kube.trigger_to_running_p95", "W9",
        "K11: 100 container tasks: trigger → task running, p95 (fake API server)", "s",
    ),
    Figure(
        "kube.pod_start_p50", "W9",
        "K11: pod start (create at the API server → task running), p50 (fake kubelet)", "ms",
    ),
    Figure(
        "kube.pod_start_p95", "W9",
        "K11: pod start (create at the API server → task running), p95 (fake kubelet)", "ms",
    ),
    Figure(
        "kube.cpu_per_attempt", "W9",
        "CPU per attempt of the scheduler, executor and API process", "ms",
    ),
    Figure(
        "kube.import_executor", "W9",
        "`import brisa.executor.kubernetes.executor` (after `import brisa`)", "ms",
        150.0, "≤ 150 ms",
    ),
    Figure(
        "kube.import_with_client", "W9",
        "… with the lightkube adapter (`lightkube_client`)", "ms",
    ),
    Figure(
        "kube.chaos_runs_wrong", "W9",
        "K3: randomized runs (410s, dropped and duplicated watches) whose view ≠ the server's",
        "runs", 0.0, "0 (100 % equal)",
    ),
    Figure("kube.chaos_runs", "W9", "K3: randomized runs made", "runs"),
    Figure(
        "kube.chaos_settle_p95", "W9",
        "K3: last change → view equal to the server, p95 of the runs", "s",
    ),
    Figure(
        "kube.recovery_after_410_median", "W9",
        "K3: 410 Gone (history compacted) → a change made then is in the view, median", "s",
        5.0, "≤ 5 s",
    ),
    Figure(
        "kube.identity_check_median", "W9",
        "ADR 0029: a worker pod's identity checked (TokenReview + pod read), median", "ms",
    ),
    Figure(
        "kube.recovery_after_410_max", "W9",
        "K3: 410 Gone → a change made then is in the view, max", "s", 5.0, "≤ 5 s",
    ),
    # K8 (bench/kube_restart.py): 3 schedulers on PostgreSQL all restarted, 200 pods running.
    Figure("kube.restart_pods", "W9", "pods running when every scheduler was restarted", "pods"),
    Figure(
        "kube.restart_adopted_s", "W9",
        "every scheduler restarted: start → every running attempt adopted, namespace held", "s",
        30.0, "≤ 30 s",
    ),
    Figure(
        "kube.restart_pod_creates", "W9", "… pod creates after the restart", "requests",
        0.0, "0",
    ),
    Figure(
        "kube.restart_pod_deletes_running", "W9",
        "… deletes of a running pod after the restart", "requests", 0.0, "0",
    ),
    Figure("kube.restart_run_s", "W9", "… restart → run success (pods ended once adopted)", "s"),
]  # fmt: skip
BY_KEY.update({f.key: f for f in FIGURES})


class Results:
    """Samples per figure, collected as the workloads run, plus notes and errors."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {f.key: [] for f in FIGURES}
        self.notes: list[str] = []
        self.errors: list[str] = []

    def add(self, measured: dict[str, float]) -> None:
        for key, value in measured.items():
            if key not in BY_KEY:
                raise KeyError(f"figure {key!r} is not in bench.figures.FIGURES")
            self.samples[key].append(float(value))

    def summaries(self) -> list[dict[str, Any]]:
        return [summarise(f, self.samples[f.key]) for f in FIGURES]


# W10 the web UI (bench/ui.py), against UI.md A.5 (and rule A.1-6 for the workers).
WORKLOADS["W10"] = "web UI"
FIGURES += [
    Figure("ui.dags_p95", "W10", "DAG list page, server p95", "ms", 150.0, "≤ 150 ms"),
    Figure("ui.dags_p50", "W10", "DAG list page, server median", "ms"),
    Figure("ui.dags_gzip_kb", "W10", "DAG list page, transferred (gzip)", "KB", 60.0, "≤ 60 KB"),
    Figure("ui.dags_tag_p95", "W10", "DAG list by tag, server p95", "ms", 150.0, "≤ 150 ms"),
    Figure("ui.dags_tag_p50", "W10", "DAG list by tag, server median", "ms"),
    Figure("ui.dags_tag_gzip_kb", "W10", "DAG list by tag, transferred (gzip)", "KB",
           60.0, "≤ 60 KB"),
    Figure("ui.typeahead_p95", "W10", "tag typeahead, server p95", "ms", 50.0, "≤ 50 ms"),
    Figure("ui.typeahead_p50", "W10", "tag typeahead, server median", "ms"),
    Figure("ui.typeahead_gzip_kb", "W10", "tag typeahead, transferred (gzip)", "KB", 5.0, "≤ 5 KB"),
    Figure("ui.dags_owner_p95", "W10", "DAG list by owner, server p95", "ms", 150.0, "≤ 150 ms"),
    Figure("ui.dags_owner_p50", "W10", "DAG list by owner, server median", "ms"),
    Figure("ui.dags_owner_gzip_kb", "W10", "DAG list by owner, transferred (gzip)", "KB",
           60.0, "≤ 60 KB"),
    Figure("ui.owner_typeahead_p95", "W10", "owner typeahead, server p95", "ms", 50.0, "≤ 50 ms"),
    Figure("ui.owner_typeahead_p50", "W10", "owner typeahead, server median", "ms"),
    Figure("ui.owner_typeahead_gzip_kb", "W10", "owner typeahead, transferred (gzip)", "KB",
           5.0, "≤ 5 KB"),
    Figure("ui.grid_p95", "W10", "DAG page with its grid, server p95", "ms", 250.0, "≤ 250 ms"),
    Figure("ui.grid_p50", "W10", "DAG page with its grid, server median", "ms"),
    Figure("ui.grid_statements_few", "W10", "grid fragment: SQL statements, 5 runs", "count",
           5.0, "≤ 5, same at 25"),
    Figure("ui.grid_statements", "W10", "grid fragment: SQL statements, 25 runs", "count",
           5.0, "≤ 5, same at 5"),
    Figure("ui.grid_statements_uncached", "W10",
           "grid fragment: SQL statements, 25 runs, no finished column kept", "count",
           5.0, "≤ 5"),
    Figure("ui.grid_kb", "W10", "DAG page with its grid, raw", "KB"),
    Figure("ui.grid_gzip_kb", "W10", "DAG page with its grid, transferred (gzip)", "KB",
           80.0, "≤ 80 KB"),
    Figure("ui.grid_cells", "W10", "grid cells on the page", "count"),
    Figure("ui.grid_column_p95", "W10", "grid column fragment (live update), server p95", "ms",
           50.0, "≤ 50 ms"),
    Figure("ui.log_page", "W10", "log: last 1,000 lines read and rendered, first time", "ms",
           200.0, "≤ 200 ms"),
    Figure("ui.log_render", "W10", "log: … of which rendering the 1,000 lines", "ms"),
    Figure("ui.log_tail_again", "W10", "log: last 1,000 lines read again", "ms"),
    Figure("ui.log_page_kb", "W10", "log: the 1,000 lines' HTML, raw", "KB"),
    Figure("ui.log_page_gzip_kb", "W10", "log: the 1,000 lines' HTML, gzip level 1", "KB",
           100.0, "≤ 100 KB"),
    Figure("ui.log_first_error", "W10", "log: first error (error at 10 %)", "ms"),
    Figure("ui.log_search", "W10", "log: search, full scan (match at 90 %)", "s", 5.0, "≤ 5 s"),
    Figure("ui.log_download_first", "W10", "log: download, first block", "ms",
           300.0, "≤ 300 ms"),
    Figure("ui.log_download_mib", "W10", "log: download, peak Python memory", "MiB",
           16.0, "≤ 16 MB"),
    Figure("live.gap_quiet", "W10", "chain gap end → next start, no tab, median", "ms"),
    Figure("live.gap_streaming", "W10", "… while tabs hold streams, median", "ms"),
    Figure("live.gap_streaming_added", "W10", "… added by the streaming tabs, median", "ms",
           50.0, "≤ +50 ms (rule 6)"),
    Figure("live.gap_streaming_max", "W10", "… while tabs hold streams, max", "ms"),
    Figure("live.gap_hammering", "W10", "… while tabs fetch pages without pause, median", "ms"),
    Figure("live.gap_hammering_max", "W10", "… while tabs fetch pages without pause, max", "ms"),
    Figure("live.fetches_streaming", "W10", "fragment fetches by the streaming tabs", "count"),
    Figure("live.fetches_hammering", "W10", "page fetches by the hammering tabs", "count"),
    Figure("live.grid_requests", "W10", "live grid in Chromium, one task ending every 2 s: "
           "requests per minute", "count", 30.0, "≤ 30 per tab"),
    Figure("live.refused", "W10", "UI requests refused (503) while hammering", "count"),
]  # fmt: skip
BY_KEY.update({f.key: f for f in FIGURES})
