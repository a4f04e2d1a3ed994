"""A fake Kubernetes cluster for tests and benchmarks: an API server speaking the real
protocol over HTTP on 127.0.0.1 (core/v1 pods, secrets, config maps, events and namespaces;
watches with bookmarks and 410 Gone; `pods/log`; `Status` error bodies; bearer tokens) and a
fake kubelet that runs each pod's first container as a local process, with the faults a real
cluster has (`faults.py`). kubectl and the official client work against it.

    with FakeCluster(token="secret", namespaces=("brisa",)) as cluster:
        cluster.inject(OomKilled(), where="brisa.dev/task=train", times=1)
        ... talk to cluster.url ...
"""

from brisa.testing.kube.cluster import FakeCluster
from brisa.testing.kube.faults import (
    DeletedByOther,
    Evicted,
    Fault,
    ImagePullError,
    NodeLost,
    OomKilled,
    SlowStart,
    Unschedulable,
)

__all__ = [
    "DeletedByOther",
    "Evicted",
    "FakeCluster",
    "Fault",
    "ImagePullError",
    "NodeLost",
    "OomKilled",
    "SlowStart",
    "Unschedulable",
]
