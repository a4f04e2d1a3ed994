"""`FakeCluster`: the fake API server, its store and the fake kubelet as one harness that
tests and benchmarks start and stop; nothing it started (threads, connections, container
processes, temporary folders) outlives `stop()`."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brisa.executor.kubernetes.api import ApiAccess, connect
from brisa.executor.kubernetes.executor import KubeConfig, KubernetesExecutor
from brisa.executor.kubernetes.manifest import PodConfig
from brisa.testing.kube.faults import Fault, FaultTable
from brisa.testing.kube.kubelet import Kubelet
from brisa.testing.kube.objects import Json
from brisa.testing.kube.server import FakeApiServer
from brisa.testing.kube.store import ClusterState
from brisa.testing.kube.tls import self_signed


def default_env() -> dict[str, str]:
    """What every container gets below the pod's variables: a PATH that finds this Python
    first (so `python` in a command is the test's interpreter), this process's PYTHONPATH (so
    `python -m brisa` imports this checkout, as the worker image would hold it), a locale."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {"PATH": path, "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


class FakeCluster:
    """`with FakeCluster(token="t", namespaces=("brisa",)) as cluster:` then talk to
    `cluster.url`; `cluster.inject(...)` for faults, `cluster.api` for network faults. With
    `tls`, the server speaks HTTPS with a self-signed certificate (`ca_file`)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        namespaces: tuple[str, ...] = ("default",),
        history: int = 1000,
        bookmark_interval: float = 1.0,
        retry: float = 0.5,
        base_env: dict[str, str] | None = None,
        tls: bool = False,
        images: dict[str, list[str]] | None = None,
        memory_cgroups: bool = False,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="brisa-fake-kube-"))
        self.state = ClusterState(namespaces, history=history)
        self.faults = FaultTable()
        self.kubelet = Kubelet(
            self.state,
            self.faults,
            self.root,
            base_env=base_env or default_env(),
            images=dict(images or {}),
            retry=retry,
            memory_cgroups=memory_cgroups,
        )
        self.ca_file: Path | None = None
        certificate = None
        if tls:
            self.ca_file, key = self_signed(self.root)
            certificate = (str(self.ca_file), str(key))
        self.api = FakeApiServer(
            self.state,
            self.kubelet,
            token=token,
            bookmark_interval=bookmark_interval,
            tls=certificate,
        )
        self.token = token

    def __enter__(self) -> FakeCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.api.url

    def start(self) -> FakeCluster:
        self.api.start()
        return self

    def stop(self) -> None:
        self.api.stop()
        self.kubelet.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- what tests do --------------------------------------------------------------------
    def inject(
        self, fault: Fault, where: str | Callable[[Json], bool] = "", times: int | None = None
    ) -> None:
        """Give `fault` to the next pods `where` (a label selector or a predicate) matches;
        all of them, or `times` of them."""
        self.faults.add(fault, where, times)

    def create_namespace(self, name: str) -> None:
        self.state.create("namespaces", "", {"metadata": {"name": name}})

    def pods(self, namespace: str | None = None) -> list[Json]:
        return self.state.list("pods", namespace)[0]

    def pod(self, namespace: str, name: str) -> Json | None:
        return self.state.find("pods", namespace, name)

    def events(self, namespace: str, pod: str) -> list[Json]:
        return [
            event
            for event in self.state.list("events", namespace)[0]
            if event["involvedObject"]["name"] == pod
        ]

    def log(self, namespace: str, pod: str, container: str | None = None) -> bytes:
        found = self.state.get("pods", namespace, pod)
        name = container or found["spec"]["containers"][0]["name"]
        log = self.kubelet.log(found, name)
        return b"" if log is None else b"".join(data for _, data in log.read_from(0, 0)[0])


def executor_on(
    cluster: FakeCluster, folder: Path, namespace: str, *, deployment: str, **config: Any
) -> KubernetesExecutor:
    """A Kubernetes executor of `deployment` (not started) talking to `cluster` with its
    token (written to `folder`), its pods in `namespace` from a test image; `config` sets or
    overrides any other of `KubeConfig`'s fields (`kill_grace`, `delete_pods`, ...)."""
    token = folder / "token"
    token.write_text(cluster.token or "")
    config.setdefault("pod_config", lambda team: PodConfig(namespace, "ghcr.io/acme/brisa:test"))
    settings = KubeConfig(deployment=deployment, namespaces=(namespace,), **config)
    return KubernetesExecutor(
        connect(ApiAccess(server=cluster.url, token_file=str(token))), settings
    )
