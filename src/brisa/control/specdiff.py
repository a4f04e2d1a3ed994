"""What changed in a DAG's structure between two versions, in plain sentences (the Code
page's structural diff, UI.md A.2.10): tasks added or removed, dependency, trigger-rule,
kind and retry changes, schedule and params. Pure."""

from __future__ import annotations

from brisa.core.spec import DagSpec, TaskSpec


def _names(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items) if items else "none"


def _task_changes(task_id: str, old: TaskSpec, new: TaskSpec) -> list[str]:
    out = []
    if set(old.upstream) != set(new.upstream):
        before, after = sorted(old.upstream), sorted(new.upstream)
        out.append(f"task {task_id}: upstream {_names(before)} → {_names(after)}")
    if old.kind != new.kind:
        out.append(f"task {task_id}: kind {old.kind} → {new.kind}")
    if old.trigger_rule != new.trigger_rule:
        out.append(f"task {task_id}: trigger rule {old.trigger_rule} → {new.trigger_rule}")
    if old.retries != new.retries:
        out.append(f"task {task_id}: retries {old.retries} → {new.retries}")
    return out


def _schedule(spec: DagSpec) -> str:
    data = spec.schedule.to_json()
    return " ".join(str(v) for k, v in data.items() if k != "kind") or spec.schedule.kind


def structure_changes(old: DagSpec, new: DagSpec) -> list[str]:
    """Sentences such as `task c added`, `task b: upstream a → a, c`; empty when alike."""
    out = [f"task {t} added" for t in new.tasks if t not in old.tasks]
    out += [f"task {t} removed" for t in old.tasks if t not in new.tasks]
    for task_id, task in new.tasks.items():
        if task_id in old.tasks:
            out += _task_changes(task_id, old.tasks[task_id], task)
    if old.schedule.to_json() != new.schedule.to_json():
        out.append(f"schedule {_schedule(old)} → {_schedule(new)}")
    out += [f"param {p} added" for p in new.params if p not in old.params]
    out += [f"param {p} removed" for p in old.params if p not in new.params]
    changed = [p for p in new.params if p in old.params and old.params[p] != new.params[p]]
    out += [f"param {p} changed" for p in changed]
    return out
