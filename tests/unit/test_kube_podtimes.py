"""What the executor measures of its pods for the metrics (`podtimes.py`): each step once, from
the API server's times, by team; steps before the executor started (an adopted pod) are not
measured again; infrastructure endings by their short reason."""

from __future__ import annotations

from typing import Any

from brisa.core.observations import Ending
from brisa.executor.kubernetes.classify import parse_time
from brisa.executor.kubernetes.inspect import pod_facts
from brisa.executor.kubernetes.podtimes import PodTimes, infra_reason


class Sink:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []

    def pod_pending(self, team: str, seconds: float) -> None:
        self.seen.append(("pending", team, seconds))

    def pod_started(self, team: str, seconds: float) -> None:
        self.seen.append(("started", team, seconds))

    def infra_failure(self, team: str, reason: str) -> None:
        self.seen.append(("infra", team, reason))


def pod(uid: str, *, scheduled: str = "", started: str = "", ended: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending", "conditions": []}
    if scheduled:
        status["conditions"].append(
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled}
        )
    if started:
        state = {"running": {"startedAt": started}}
        if ended:
            state = {"terminated": {"startedAt": started, "finishedAt": ended, "exitCode": 137}}
        status["containerStatuses"] = [{"name": "base", "state": state}]
    return {
        "metadata": {
            "name": f"brisa-ml-{uid}-1",
            "uid": uid,
            "creationTimestamp": "2026-12-07T10:00:00Z",
            "annotations": {"brisa.dev/team": "ml"},
        },
        "status": status,
    }


EVICTED = Ending(False, "infrastructure failure (evicted): low on memory", infrastructure=True)


def test_each_step_is_measured_once_from_the_pods_own_times() -> None:
    sink = Sink()
    times = PodTimes(sink, parse_time("2026-12-07T09:00:00Z"))  # type: ignore[arg-type]
    times.saw(pod("a"), None)
    times.saw(pod("a", scheduled="2026-12-07T10:00:03Z"), None)
    times.saw(pod("a", scheduled="2026-12-07T10:00:03Z"), None)
    times.saw(pod("a", scheduled="2026-12-07T10:00:03Z", started="2026-12-07T10:00:05Z"), None)
    ended = pod("a", scheduled="2026-12-07T10:00:03Z", started="2026-12-07T10:00:05Z",
                ended="2026-12-07T10:01:00Z")  # fmt: skip
    times.saw(ended, EVICTED)
    times.saw(ended, EVICTED)
    assert sink.seen == [("pending", "ml", 3.0), ("started", "ml", 5.0), ("infra", "ml", "evicted")]


def test_a_pod_adopted_after_a_restart_is_not_measured_again() -> None:
    sink = Sink()
    times = PodTimes(sink, parse_time("2026-12-07T10:00:30Z"))  # type: ignore[arg-type]
    times.saw(pod("b", scheduled="2026-12-07T10:00:03Z", started="2026-12-07T10:00:05Z"), None)
    ended = pod("b", scheduled="2026-12-07T10:00:03Z", started="2026-12-07T10:00:05Z",
                ended="2026-12-07T10:00:20Z")  # fmt: skip
    times.saw(ended, EVICTED)
    assert sink.seen == []


def test_infrastructure_reasons_are_short_labels() -> None:
    assert infra_reason(EVICTED) == "evicted"
    gone = Ending(
        False, "infrastructure failure (pod deleted by someone else): x", infrastructure=True
    )
    assert infra_reason(gone) == "pod_deleted_by_someone_else"
    assert infra_reason(Ending(False, "exit code 3", 3)) is None


def test_a_pods_facts_are_its_phase_node_image_and_last_five_events() -> None:
    events = [
        {"type": "Normal", "reason": f"R{n}", "message": f"m{n}",
         "lastTimestamp": f"2026-12-07T10:00:{n:02d}Z", "count": 1 + (n == 9)}
        for n in (9, 1, 8, 2, 7, 3, 6)
    ]  # fmt: skip
    found = pod("c", scheduled="2026-12-07T10:00:03Z")
    found["spec"] = {
        "nodeName": "n1",
        "containers": [{"name": "side", "image": "envoy:1"}, {"name": "base", "image": "app:2"}],
    }
    facts = pod_facts(found, events)
    assert (facts.name, facts.phase, facts.node, facts.image) == (
        "brisa-ml-c-1",
        "Pending",
        "n1",
        "app:2",
    )
    assert facts.events == (
        "Normal R3: m3", "Normal R6: m6", "Normal R7: m7", "Normal R8: m8", "Normal R9 (x2): m9"
    )  # fmt: skip
    assert facts.lines()[0] == "its pod brisa-ml-c-1 is Pending, on node n1, image app:2"
