"""What a pod's state means for its attempt: running, waiting (and why), or ended (and why).

Pure: a pod as the API server returns it (JSON), its events, and the time. The reasons are
the ones users of pod-per-task executors trip over (docs/kubernetes.md lists them):

- fatal while Pending, failed at once: `InvalidImageName`, `ErrImageNeverPull`,
  `ImagePullBackOff` or `ErrImagePull` three times, `CreateContainerConfigError`;
- `Unschedulable` waits, showing the scheduler's message, until the pending timeout;
- ended: OOMKilled with the container's memory limit, a non-zero exit or a signal; evicted,
  preempted, node lost: an infrastructure failure, not the task's doing. A container that
  exited 0 returns its termination message (`result_of`).
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from brisa.core.observations import Ending, Waiting
from brisa.executor.kubernetes import naming

Json = Mapping[str, Any]

KIND = naming.PREFIX + "kind"  # annotation: the task's kind (container tasks are supervised)
ALWAYS_FATAL = frozenset(
    {
        "InvalidImageName",
        "ErrImageNeverPull",
        "ImagePullBackOff",
        "CreateContainerError",
        "CreateContainerConfigError",
    }
)
PULL_FAILURES = 3  # ErrImagePull this many times: the image will not come
INFRA_REASONS = {
    "Evicted": "evicted",
    "Preempting": "preempted",
    "NodeLost": "node lost",
    "NodeShutdown": "node shut down",
    "Shutdown": "node shut down",
    "Terminated": "node shut down",
    "UnexpectedAdmissionError": "rejected by its node",
    "OutOfcpu": "rejected by its node",
    "OutOfmemory": "rejected by its node",
}

# Why Kubernetes disrupted a pod (the `DisruptionTarget` condition's reason).
DISRUPTIONS = {
    "PreemptionByScheduler": "preempted",
    "PreemptionByKubeScheduler": "preempted",
    "DeletionByTaintManager": "node lost",  # NoExecute taint: the node is unreachable
    "DeletionByPodGC": "node lost",
    "EvictionByEvictionAPI": "evicted",
    "TerminationByKubelet": "evicted",
}


@dataclass(frozen=True)
class Running:
    node: str
    since: datetime | None


Status = Running | Waiting | Ending


@dataclass(frozen=True)
class Rules:
    """What classification depends on beyond the pod: from the `[kubernetes]` settings."""

    pending_timeout: float = 600.0
    container: str = "base"  # the container whose exit is the attempt's
    deleting: bool = False  # this executor asked for the pod's deletion


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def classify(pod: Json, events: Sequence[Json], now: datetime, rules: Rules) -> Status:
    """The attempt's status from its pod (and the pod's events, for Pending reasons)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    disrupted = _disruption(status)
    if disrupted is None and not rules.deleting and _killed_by_deletion(pod, status, rules):
        name = pod["metadata"]["name"]
        return _infra("pod deleted by someone else", f"pod {name} was deleted while it ran")
    if phase in ("Succeeded", "Failed"):
        return _terminal(pod, status, disrupted, rules)
    if phase == "Unknown" or status.get("reason") == "NodeLost":
        return _infra("node lost", status.get("message") or "the pod's node stopped reporting")
    if disrupted is not None:
        return _infra(*disrupted)
    if phase == "Running":
        return Running(
            str(pod.get("spec", {}).get("nodeName") or ""), parse_time(status.get("startTime"))
        )
    return _pending(pod, status, events, now, rules)


def _killed_by_deletion(pod: Json, status: Json, rules: Rules) -> bool:
    """Whether someone deleted the pod before its container ended by itself: the deletion was
    asked for (`deletionTimestamp`: the request's time plus the grace period) and the container
    still runs, or ended after the request (its SIGTERM)."""
    meta = pod.get("metadata") or {}
    deadline = parse_time(meta.get("deletionTimestamp"))
    if deadline is None:
        return False
    state = _terminated(status, _main_name(pod, rules))
    if state is None:
        return status.get("phase") not in ("Succeeded", "Failed")
    finished = parse_time(state.get("finishedAt"))
    asked = deadline.timestamp() - float(meta.get("deletionGracePeriodSeconds") or 0)
    return finished is not None and finished.timestamp() >= asked - 1.0


def _infra(what: str, message: str) -> Ending:
    text = f"infrastructure failure ({what})" + (f": {message}" if message else "")
    return Ending(False, text, infrastructure=True)


def _disruption(status: Json) -> tuple[str, str] | None:
    """A `DisruptionTarget` condition (preemption, eviction by the API or a taint): why."""
    for cond in status.get("conditions") or ():
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            reason = str(cond.get("reason") or "")
            what = DISRUPTIONS.get(reason, "evicted")
            return what, f"{reason}: {cond.get('message') or ''}".strip(": ")
    return None


def _terminal(pod: Json, status: Json, disrupted: tuple[str, str] | None, rules: Rules) -> Ending:
    reason = status.get("reason") or ""
    if reason in INFRA_REASONS:
        return _infra(INFRA_REASONS[reason], status.get("message") or "")
    name = _main_name(pod, rules)
    state = _terminated(status, name)
    if state is not None and state.get("reason") == "OOMKilled":
        # Also when the phase says Succeeded: the kernel killed something of the attempt.
        return Ending(False, _oom_text(pod, name, state), int(state.get("exitCode") or 137))
    if disrupted is not None:
        return _infra(*disrupted)
    if state is None:
        ok = status.get("phase") == "Succeeded"
        return Ending(
            ok, "pod " + ("succeeded" if ok else f"failed: {reason or 'no reason given'}")
        )
    code = int(state.get("exitCode") or 0)
    if code == 0:
        return Ending(True, _exit_text(code, state), code, result=result_of(state))
    return Ending(False, _exit_text(code, state), code)


def result_of(terminated: Json) -> Any:
    """What a container that exited 0 returns: its termination message (the file at
    `terminationMessagePath`, which the kubelet keeps to 4 KiB) read as JSON; a message that is
    not JSON is returned as text (a string, without its last line break); no message: None."""
    message = str(terminated.get("message") or "")
    if not message.strip():
        return None
    try:
        return json.loads(message)
    except ValueError:
        return message.removesuffix("\n")


def _exit_text(code: int, state: Json) -> str:
    if code == 0:
        return "exit code 0"
    text = f"exit code {code}"
    if code > 128 and code - 128 < 65:
        with contextlib.suppress(ValueError):
            text += f" (killed by {signal.Signals(code - 128).name})"
    message = str(state.get("message") or "").strip()
    return f"{text}: {message.splitlines()[-1]}" if message else text


def _terminated(status: Json, name: str) -> Json | None:
    """How container `name` terminated (None: it has not)."""
    for entry in status.get("containerStatuses") or ():
        if entry.get("name") == name:
            state = (entry.get("state") or {}).get("terminated")
            return state or (entry.get("lastState") or {}).get("terminated")
    return None


def _main_name(pod: Json, rules: Rules) -> str:
    """The container whose exit is the attempt's: `rules.container`, else the first."""
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or ()]
    return rules.container if rules.container in names or not names else str(names[0])


def _oom_text(pod: Json, name: str, state: Json) -> str:
    code = int(state.get("exitCode") or 137)
    limit = ""
    for container in (pod.get("spec") or {}).get("containers") or ():
        if container.get("name") == name:
            limit = str(
                ((container.get("resources") or {}).get("limits") or {}).get("memory") or ""
            )
    tail = f", limit {limit}" if limit else ", no memory limit"
    return f"OOMKilled (container {name}, exit {code}{tail})"


def _pending(
    pod: Json, status: Json, events: Sequence[Json], now: datetime, rules: Rules
) -> Status:
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or now
    age = (now - created).total_seconds()
    waiting = _waiting_container(status)
    if waiting is not None:
        reason, message = str(waiting.get("reason") or ""), str(waiting.get("message") or "")
        if _fatal(reason, events):
            return Ending(False, f"{reason}: {message}" if message else reason)
    else:
        reason, message = _unscheduled(status, events)
    if age > rules.pending_timeout:
        text = f"pending for more than {rules.pending_timeout:g}s (pending_timeout)"
        return Ending(False, text + (f": {reason}: {message}" if reason else ""))
    return Waiting(reason or "Pending", message, created)


def _waiting_container(status: Json) -> Json | None:
    """The first container (init containers first) waiting for a reason other than creation."""
    for key in ("initContainerStatuses", "containerStatuses"):
        for entry in status.get(key) or ():
            waiting = (entry.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason") not in (
                None,
                "ContainerCreating",
                "PodInitializing",
            ):
                return dict(waiting)
    return None


def _fatal(reason: str, events: Sequence[Json]) -> bool:
    if reason in ALWAYS_FATAL:
        return True
    return reason == "ErrImagePull" and _pull_failures(events) >= PULL_FAILURES


def _pull_failures(events: Sequence[Json]) -> int:
    return sum(
        int(e.get("count") or 1)
        for e in events
        if e.get("reason") == "Failed" and "pull" in str(e.get("message") or "").lower()
    )


def _unscheduled(status: Json, events: Sequence[Json]) -> tuple[str, str]:
    """(reason, message) of a pod the scheduler has not placed; ('', '') if none is given."""
    for cond in status.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            message = str(cond.get("message") or "") or _last_event(events, "FailedScheduling")
            return str(cond.get("reason") or "Unschedulable"), message
    message = _last_event(events, "FailedScheduling")
    return ("Unschedulable", message) if message else ("", "")


def _last_event(events: Sequence[Json], reason: str) -> str:
    matching = [e for e in events if e.get("reason") == reason]
    if not matching:
        return ""
    latest = max(matching, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return str(latest.get("message") or "")


# --- facts the executor reads from a pod ---------------------------------------------------


def wakes(pod: Json) -> bool:
    """Whether a change of `pod` is worth a scheduling pass now: it ended, is being deleted,
    or a container task's container started (nobody else tells the API). The rest (a worker
    pod running, a reason to wait) is seen by the next pass anyway."""
    meta, status = pod["metadata"], pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed", "Unknown") or meta.get("deletionTimestamp"):
        return True
    return phase == "Running" and (meta.get("annotations") or {}).get(KIND) == "container"


def needs_events(pod: Json) -> bool:
    """Whether a pending pod's events must be read to tell why it waits."""
    status = pod.get("status") or {}
    if status.get("phase") not in (None, "Pending"):
        return False
    for entry in status.get("containerStatuses") or ():
        if ((entry.get("state") or {}).get("waiting") or {}).get("reason") == "ErrImagePull":
            return True
    # Not placed, and the condition does not say why: the FailedScheduling event does.
    return any(
        c.get("type") == "PodScheduled" and c.get("status") == "False" and not c.get("message")
        for c in status.get("conditions") or ()
    )


def attempt_ids(pod: Json, try_number: int) -> tuple[str, str, str, str, int] | None:
    """(team, dag, run, task, try) from the pod's annotations (the full ids)."""
    notes = pod["metadata"].get("annotations") or {}
    ids = [
        notes.get(k)
        for k in (naming.TEAM, naming.DAG + "-id", naming.RUN + "-id", naming.TASK + "-id")
    ]
    if not all(ids):
        return None
    team, dag_id, run_id, task_id = (str(i) for i in ids)
    return team, dag_id, run_id, task_id, try_number


def task_container(pod: Json) -> str:
    """The container that runs the task."""
    return str((pod["metadata"].get("annotations") or {}).get(naming.CONTAINER, "base"))


def has_ended(pod: Json | None) -> bool:
    """Whether the pod is gone or in a final phase."""
    return pod is None or (pod.get("status") or {}).get("phase") in (
        "Succeeded",
        "Failed",
        "Unknown",
    )


def finished_at(pod: Json) -> datetime | None:
    """When the pod's (first) container ended."""
    for entry in (pod.get("status") or {}).get("containerStatuses") or ():
        ended = ((entry.get("state") or {}).get("terminated") or {}).get("finishedAt")
        if ended:
            return parse_time(ended)
    return None
