"""Whether the executor can work in a namespace at all, checked before its first list: the API
server answers, lets Brisa in, and has the namespace. A clear error naming the setting or the
Role now, rather than a failure per attempt later (ADR 0018)."""

from __future__ import annotations

import time

from brisa.errors import BrisaError
from brisa.executor.kubernetes import api as kube
from brisa.logs.chunking import backoff

START_TRIES = 4  # an unreachable API server is tried this often at start, with backoff


class ExecutorUnavailable(BrisaError):
    """The executor cannot work: no API server, no permission, no namespace."""


class ApiUnreachable(ExecutorUnavailable):
    """No answer from the API server (an outage may pass; a refusal will not)."""


def check_namespace(api: kube.KubeApi, namespace: str, tries: int = START_TRIES) -> None:
    """Raise `ExecutorUnavailable` (`ApiUnreachable` after `tries` tries with backoff) unless
    Brisa may work in `namespace`."""
    for attempt in range(1, tries + 1):
        try:
            api.check(namespace)
            return
        except kube.Unreachable as exc:
            if attempt == tries:
                raise ApiUnreachable(
                    f"the Kubernetes API server cannot be reached ({exc.message}); check "
                    "[kubernetes] api access (server URL, kubeconfig, in-cluster account)"
                ) from None
            time.sleep(backoff(attempt, 0.5))
        except (kube.Unauthorized, kube.Forbidden) as exc:
            raise ExecutorUnavailable(
                f"the Kubernetes API server refused Brisa in namespace {namespace!r} "
                f"({exc.status} {exc.reason}: {exc.message}); grant its service account "
                "the Role in docs/kubernetes.md (pods, pods/log, events)"
            ) from None
        except kube.NotFound:
            raise ExecutorUnavailable(
                f"namespace {namespace!r} does not exist; create it or fix [kubernetes] namespace"
            ) from None
