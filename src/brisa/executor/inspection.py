"""What the API asks of an attempt's pod, as the settings describe it; None for the local
executor. What a queued attempt's pod shows, for its waiting reasons ("why is this not
running"): the Kubernetes executor's `PodInspector`; whether a pod token is the projected
token of an attempt's pod: its `PodIdentity` (ADR 0029). The Kubernetes modules are imported
only for `kind = "kubernetes"`."""

from __future__ import annotations

from collections.abc import Callable

from brisa.core.observations import PodFacts
from brisa.core.records import AttemptRef
from brisa.settings import Settings

Pods = Callable[[str, AttemptRef], PodFacts | None]
Identities = Callable[[str, AttemptRef, str], None]


def pod_inspector(settings: Settings) -> Pods | None:
    """Reads an attempt's pod when asked (the client is made on the first question)."""
    if settings.executor.kind != "kubernetes":
        return None
    from brisa.executor.kubernetes import configured
    from brisa.executor.kubernetes.inspect import PodInspector

    return PodInspector(lambda: configured.client(settings), settings.kubernetes.namespace_for)


def pod_identity(settings: Settings) -> Identities | None:
    """Checks a worker pod's token when one is exchanged (the client made on first use)."""
    if settings.executor.kind != "kubernetes":
        return None
    from brisa.executor.kubernetes import configured
    from brisa.executor.kubernetes.podidentity import PodIdentity

    return PodIdentity(lambda: configured.client(settings), settings.kubernetes.namespace_for)
