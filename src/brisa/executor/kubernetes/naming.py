"""Names, labels and selectors of Brisa's pods: how an attempt and its pod find each other.

A pod is named `brisa-<team>-<ti>-<try>` (DNS-1123, at most 63 characters; a team name that
does not fit is shortened and hashed), so a second create of the same attempt's pod is a 409
and never a second pod. Labels carry the deployment, team, DAG, run, task, task instance, try
and launch time, each fitted into a valid label value (a long or invalid id is shortened and
hashed); the full ids are in annotations. `selector_for` lists a deployment's pods and
`attempt_from_labels` reads the attempt back from a pod's labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from brisa.core.kubenames import MAX_LABEL, fitted_name, fitted_value
from brisa.core.records import AttemptRef

PREFIX = "brisa.dev/"
DEPLOYMENT = PREFIX + "deployment"
TEAM = PREFIX + "team"
DAG = PREFIX + "dag"
RUN = PREFIX + "run"
TASK = PREFIX + "task"
TI = PREFIX + "ti"
TRY = PREFIX + "try"
LAUNCHED = PREFIX + "launched"  # epoch seconds of the launch
CONTAINER = PREFIX + "container"  # annotation: the container that runs the task
MANAGED_BY = "app.kubernetes.io/managed-by"
# Room left at the end of a pod name (it once named the pod's token Secret): pod names stay
# the same across versions, so a restarted scheduler of a new version adopts older pods.
TOKEN_SUFFIX = "-token"


@dataclass(frozen=True)
class AttemptPod:
    """The attempt a pod is for, as the executor knows it when it launches the pod."""

    deployment: str
    team: str
    dag_id: str
    run_id: str
    task_id: str
    ti_id: int
    try_number: int
    launched_at: int = 0

    @property
    def ref(self) -> AttemptRef:
        return AttemptRef(self.ti_id, self.try_number)


def pod_name(team: str, ti_id: int, try_number: int) -> str:
    """`brisa-<team>-<ti>-<try>`, at most 63 characters less `TOKEN_SUFFIX`."""
    tail = f"-{ti_id}-{try_number}"
    room = MAX_LABEL - len(TOKEN_SUFFIX) - len("brisa-") - len(tail)
    return f"brisa-{fitted_name(team, room)}{tail}"


def pod_labels(attempt: AttemptPod) -> dict[str, str]:
    return {
        MANAGED_BY: "brisa",
        DEPLOYMENT: fitted_value(attempt.deployment),
        TEAM: fitted_value(attempt.team),
        DAG: fitted_value(attempt.dag_id),
        RUN: fitted_value(attempt.run_id),
        TASK: fitted_value(attempt.task_id),
        TI: str(attempt.ti_id),
        TRY: str(attempt.try_number),
        LAUNCHED: str(attempt.launched_at),
    }


def pod_annotations(attempt: AttemptPod, container: str) -> dict[str, str]:
    """The full ids, which labels may only hold shortened."""
    return {
        DEPLOYMENT: attempt.deployment,
        TEAM: attempt.team,
        DAG + "-id": attempt.dag_id,
        RUN + "-id": attempt.run_id,
        TASK + "-id": attempt.task_id,
        CONTAINER: container,
    }


def selector_for(deployment: str, team: str | None = None) -> str:
    """The label selector of a deployment's pods (of one team's, when given)."""
    parts = [f"{MANAGED_BY}=brisa", f"{DEPLOYMENT}={fitted_value(deployment)}"]
    if team is not None:
        parts.append(f"{TEAM}={fitted_value(team)}")
    return ",".join(parts)


def attempt_from_labels(labels: Mapping[str, str]) -> AttemptRef | None:
    """The attempt a pod runs, from its labels; None for a pod that is not one of Brisa's
    (or whose labels were edited into something else)."""
    ti, try_number = labels.get(TI, ""), labels.get(TRY, "")
    if labels.get(MANAGED_BY) != "brisa" or not (ti.isdigit() and try_number.isdigit()):
        return None
    return AttemptRef(int(ti), int(try_number))
