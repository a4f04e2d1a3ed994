"""What people are shown of secrets (docs/adr/0009-masking-secrets.md): every DAG, run, task
and attempt the control plane hands the REST API, the web UI or the CLI passes through here.

- A DAG's spec: the defaults of params marked secret, and the `env` values of shell and
  container tasks (and of tasks' pod settings) whose names match `[logs] mask_env_pattern`,
  read `***`.
- A run's conf: the values of the params its DAG version marks secret read `***`. The store
  keeps them in clear: the worker gets them, through the token-protected execution API.
- Task errors and return values: the worker masked them before reporting; they are masked
  again here with the secrets the server knows (the run's secret params, the spec's secret
  `env` values), which also covers what an older worker recorded.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from brisa.core.records import AttemptRecord, DagRecord, RunRecord, TaskRecord
from brisa.core.spec import ContainerRun, DagSpec, ShellCommand, TaskSpec
from brisa.logs.masking import (
    DEFAULT_ENV_PATTERN,
    REDACTED,
    Masker,
    param_secrets,
    redact_conf,
    secret_names,
)
from brisa.store import Store

_R = TypeVar("_R", TaskRecord, AttemptRecord)
_CACHED_VERSIONS = 4096  # versions are immutable; the cache is only emptied to bound it


@dataclasses.dataclass(frozen=True)
class _Secrets:
    """What a DAG version declares secret: param names, and its shell tasks' secret env."""

    params: frozenset[str]
    env_values: tuple[str, ...]


class Redaction:
    """Redacts records for people, by the secrets their DAG version declares."""

    def __init__(self, store: Store, env_pattern: str = DEFAULT_ENV_PATTERN) -> None:
        self._store = store
        self._pattern = env_pattern
        self._versions: dict[int, _Secrets] = {}

    def dag(self, record: DagRecord) -> DagRecord:
        shown = redact_spec(record.spec, self._pattern)
        return record if shown is record.spec else dataclasses.replace(record, spec=shown)

    def runs(self, runs: Iterable[RunRecord]) -> list[RunRecord]:
        runs = list(runs)
        versions = self._secrets(r.version_id for r in runs)
        return [_run(r, versions[r.version_id]) for r in runs]

    def run(self, run: RunRecord) -> RunRecord:
        return self.runs([run])[0]

    def task(
        self, run: RunRecord, ti: TaskRecord, return_value: Any, attempts: list[AttemptRecord]
    ) -> tuple[TaskRecord, Any, list[AttemptRecord]]:
        """A task instance, its return value and its attempts, masked."""
        masker = _masker(run, self._secrets([run.version_id])[run.version_id])
        shown = [_error_masked(a, masker) for a in attempts]
        return _error_masked(ti, masker), masker.mask_json(return_value), shown

    def _secrets(self, version_ids: Iterable[int]) -> dict[int, _Secrets]:
        """What these versions declare secret, from the cache or the store. (The cache is
        shared by the API's threads: entries are only added, or all dropped at once.)"""
        cache = self._versions
        wanted = set(version_ids)
        found = {v: cache[v] for v in wanted if v in cache}
        missing = wanted - set(found)
        if missing:
            specs = self._store.get_specs(missing)
            for version_id in missing:  # a version that is gone declares nothing
                spec = specs[version_id][0] if version_id in specs else None
                found[version_id] = _Secrets(
                    frozenset(spec.secret_params() if spec else ()),
                    tuple(spec_secrets(spec, self._pattern) if spec else ()),
                )
            if len(cache) + len(missing) > _CACHED_VERSIONS:
                self._versions = cache = {}
            cache.update((v, found[v]) for v in missing)
        return found


def _run(run: RunRecord, secrets: _Secrets) -> RunRecord:
    if not secrets.params and not secrets.env_values:
        return run
    masker = _masker(run, secrets)
    tasks = {task_id: _error_masked(ti, masker) for task_id, ti in run.tasks.items()}
    return dataclasses.replace(run, conf=redact_conf(run.conf, secrets.params), tasks=tasks)


def _masker(run: RunRecord, secrets: _Secrets) -> Masker:
    return Masker([*param_secrets(run.conf, secrets.params), *secrets.env_values])


def _error_masked(record: _R, masker: Masker) -> _R:
    if not record.error:
        return record
    return dataclasses.replace(record, error=masker.mask_text(record.error))


def redact_spec(spec: DagSpec, pattern: str) -> DagSpec:
    """A DAG's spec as people see it: the defaults of secret params, and the `env` values of
    shell tasks whose names match `pattern`, replaced by `***` (the spec itself when it holds
    neither)."""
    names = secret_names(pattern)
    hidden = {n for n, p in spec.params.items() if p.secret and not p.required}
    leaky = {tid for tid, t in spec.tasks.items() if any(map(names.search, _env(t)))}
    if not hidden and not leaky:
        return spec
    params = {
        n: dataclasses.replace(p, default=REDACTED) if n in hidden else p
        for n, p in spec.params.items()
    }
    tasks = {tid: _env_redacted(t, names) if tid in leaky else t for tid, t in spec.tasks.items()}
    return dataclasses.replace(spec, params=params, tasks=tasks)


def spec_secrets(spec: DagSpec, pattern: str) -> list[str]:
    """The `env` values a DAG's shell tasks give variables named like secrets."""
    names = secret_names(pattern)
    return [v for t in spec.tasks.values() for n, v in _env(t).items() if names.search(n) and v]


def _env(task: TaskSpec) -> Mapping[str, str]:
    """The `env` a task declares: its shell or container env, and its pod settings' env."""
    body = task.body.env if isinstance(task.body, ShellCommand | ContainerRun) else {}
    return {**(task.pod.env if task.pod is not None else {}), **body}


def _env_redacted(task: TaskSpec, names: re.Pattern[str]) -> TaskSpec:
    def hidden(env: Mapping[str, str]) -> dict[str, str]:
        return {n: REDACTED if names.search(n) else v for n, v in env.items()}

    if isinstance(task.body, ShellCommand | ContainerRun):
        task = dataclasses.replace(
            task, body=dataclasses.replace(task.body, env=hidden(task.body.env))
        )
    if task.pod is not None and task.pod.env:
        task = dataclasses.replace(
            task, pod=dataclasses.replace(task.pod, env=hidden(task.pod.env))
        )
    return task
