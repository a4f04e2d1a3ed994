"""What people are shown of secrets (docs/adr/0009-masking-secrets.md): every DAG, run, task
and attempt the control plane hands the REST API, the web UI or the CLI passes through here.

- A DAG's spec: the defaults of params marked secret, and the `env` values of shell tasks
  whose names match `[logs] mask_env_pattern`, read `***`.
- A run's conf: the values of the params its DAG version marks secret read `***`. The store
  keeps them in clear: the worker gets them, through the token-protected execution API.
- Task errors and return values: the worker masked them before reporting; they are masked
  again here with the secrets the server knows (the run's secret params, the spec's secret
  `env` values), which also covers what an older worker recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

from brisa.core.records import AttemptRecord, DagRecord, RunRecord, TaskRecord
from brisa.core.spec import DagSpec
from brisa.logs.masking import (
    DEFAULT_ENV_PATTERN,
    Masker,
    param_secrets,
    redact_conf,
    redact_spec,
    secret_params,
    spec_secrets,
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
        shown = redact_spec(record.spec.raw, self._pattern)
        return (
            record if shown is record.spec.raw else dataclasses.replace(record, spec=DagSpec(shown))
        )

    def runs(self, runs: Iterable[RunRecord]) -> list[RunRecord]:
        runs = list(runs)
        self._load(r.version_id for r in runs)
        return [self._run(r) for r in runs]

    def run(self, run: RunRecord) -> RunRecord:
        return self.runs([run])[0]

    def task(
        self, run: RunRecord, ti: TaskRecord, return_value: Any, attempts: list[AttemptRecord]
    ) -> tuple[TaskRecord, Any, list[AttemptRecord]]:
        """A task instance, its return value and its attempts, masked."""
        self._load([run.version_id])
        masker = self._masker(run)
        shown = [_error_masked(a, masker) for a in attempts]
        return _error_masked(ti, masker), masker.mask_json(return_value), shown

    def _run(self, run: RunRecord) -> RunRecord:
        secrets = self._versions[run.version_id]
        if not secrets.params and not secrets.env_values:
            return run
        masker = self._masker(run)
        tasks = {task_id: _error_masked(ti, masker) for task_id, ti in run.tasks.items()}
        return dataclasses.replace(run, conf=redact_conf(run.conf, secrets.params), tasks=tasks)

    def _masker(self, run: RunRecord) -> Masker:
        secrets = self._versions[run.version_id]
        return Masker([*param_secrets(run.conf, secrets.params), *secrets.env_values])

    def _load(self, version_ids: Iterable[int]) -> None:
        missing = set(version_ids) - set(self._versions)
        if not missing:
            return
        if len(self._versions) + len(missing) > _CACHED_VERSIONS:
            self._versions.clear()
        for version_id, (spec, _) in self._store.get_specs(missing).items():
            params = frozenset(secret_params(spec.params))
            self._versions[version_id] = _Secrets(
                params, tuple(spec_secrets(spec.raw, self._pattern))
            )
        for version_id in missing - set(self._versions):  # gone: nothing known to redact
            self._versions[version_id] = _Secrets(frozenset(), ())


def _error_masked(record: _R, masker: Masker) -> _R:
    if not record.error:
        return record
    return dataclasses.replace(record, error=masker.mask_text(record.error))
