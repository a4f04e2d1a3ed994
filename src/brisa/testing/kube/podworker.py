"""The life of one pod on the fake node, in its own thread: scheduling, the container's
start (or why it cannot start), its run, its end, its deletion, and the injected faults."""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from brisa.testing.kube import memcg
from brisa.testing.kube.container import (
    ConfigMissing,
    ContainerLog,
    Process,
    container_env,
    mount_volumes,
    termination_file,
    termination_message,
    translate,
)
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
from brisa.testing.kube.objects import ApiStatus, Json, now_rfc3339
from brisa.testing.kube.podstatus import (
    HOST_IP,
    NODE,
    conditions,
    container_status,
    scheduled,
    terminated_phase,
)
from brisa.testing.kube.store import deletion_stamp

# An image reference: [host[:port]/]path[:tag][@digest], path components in lower case.
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)


def valid_image(image: str) -> bool:
    return bool(_IMAGE.match(image))


if TYPE_CHECKING:
    from brisa.testing.kube.kubelet import Kubelet


class PodGone(Exception):
    """The pod was removed (or replaced): its worker stops."""


class PodWorker(threading.Thread):
    """The life of one pod on the node."""

    def __init__(self, kubelet: Kubelet, pod: Json, fault: Fault | None) -> None:
        super().__init__(daemon=True, name=f"fake-kubelet-{pod['metadata']['name']}")
        self.kubelet, self.state, self.fault = kubelet, kubelet.state, fault
        self.cgroup: memcg.MemoryCgroup | None = None
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.container = pod["spec"]["containers"][0]
        self.dir = kubelet.root / f"{self.namespace}-{self.name}-{self.uid[:8]}"
        self.wake = threading.Event()
        self.grace: int | None = None  # set when the pod is to stop
        self.gone = False
        self.process: Process | None = None
        self.started_at = ""
        self.termination: Path | None = None  # the termination message file

    # --- requests from the API side -------------------------------------------------------
    def stop(self, grace: int, gone: bool = False) -> None:
        self.grace = grace if self.grace is None else min(grace, self.grace)
        self.gone = self.gone or gone
        self.wake.set()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when asked."""
        if self.grace is None:
            self.wake.wait(seconds)
        return self.grace is not None

    # --- status ---------------------------------------------------------------------------
    def _update(self, mutate: Callable[[Json], object]) -> Json:
        def guarded(pod: Json) -> None:
            if pod["metadata"]["uid"] != self.uid:
                raise ApiStatus.not_found("pods", self.name)
            mutate(pod)

        try:
            return self.state.update("pods", self.namespace, self.name, guarded)
        except ApiStatus as error:
            raise PodGone from error

    def _event(self, type_: str, reason: str, message: str, component: str = "kubelet") -> None:
        pod = self.state.find("pods", self.namespace, self.name)
        if pod is not None and pod["metadata"]["uid"] == self.uid:
            self.state.record_event(pod, type_, reason, message, component)

    def _waiting(self, reason: str, message: str | None = None) -> None:
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        self._update(
            lambda pod: pod["status"].update(
                containerStatuses=[container_status(self.container, state, ready=False)]
            )
        )

    def _remove(self) -> None:
        if not self.gone:
            try:
                pod = self.state.get("pods", self.namespace, self.name)
                if pod["metadata"]["uid"] == self.uid:
                    self.state.remove("pods", self.namespace, self.name)
            except ApiStatus:
                pass
        self.gone = True

    # --- the life -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._life()
        except PodGone:
            pass
        finally:
            if self.process is not None:
                self.process.kill()
            if self.cgroup is not None:
                self.cgroup.remove()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.kubelet.forget(self.uid)

    def _life(self) -> None:
        fault = self.fault
        if isinstance(fault, Unschedulable):
            self._unschedulable(fault)
        else:
            self._schedule()
            if not valid_image(self.container["image"]):
                self._invalid_image()
            elif isinstance(fault, ImagePullError):
                self._pull_failing(fault)
            elif not (isinstance(fault, SlowStart) and self._sleep(fault.delay)):
                process = self._create()
                if process is not None:
                    self._run(process)
                    # The pod has ended (or is gone): the API server deletes an ended pod
                    # itself, unless it was marked for deletion while it ran.
                    if self.grace is not None:
                        self._remove()
                    return
        self._until_deleted()

    def _until_deleted(self) -> None:
        while not self._sleep(3600):
            pass
        self._remove()

    def _unschedulable(self, fault: Unschedulable) -> None:
        self._update(
            lambda pod: pod["status"].update(
                conditions=[
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": now_rfc3339(),
                        "reason": "Unschedulable",
                        "message": fault.message,
                    }
                ]
            )
        )
        self._event("Warning", "FailedScheduling", fault.message, "default-scheduler")

    def _schedule(self) -> None:
        self._update(
            lambda pod: (
                pod["spec"].update(nodeName=NODE),
                pod["status"].update(conditions=[scheduled()]),
            )
        )
        self._event(
            "Normal",
            "Scheduled",
            f"Successfully assigned {self.namespace}/{self.name} to {NODE}",
            "default-scheduler",
        )
        ip = self.kubelet.next_ip()
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        self._update(
            lambda pod: pod["status"].update(
                phase="Pending",
                hostIP=HOST_IP,
                hostIPs=[{"ip": HOST_IP}],
                podIP=ip,
                podIPs=[{"ip": ip}],
                startTime=now_rfc3339(),
                conditions=conditions(ready=False),
                containerStatuses=[container_status(self.container, waiting, ready=False)],
            )
        )

    def _invalid_image(self) -> None:
        image = self.container["image"]
        message = (
            f'Failed to apply default image tag "{image}": couldn\'t parse image name'
            f' "{image}": invalid reference format'
        )
        self._waiting("InvalidImageName", message)
        self._event("Warning", "InspectFailed", message)
        self._event("Warning", "Failed", "Error: InvalidImageName")

    def _pull_failing(self, fault: ImagePullError) -> None:
        image = self.container["image"]
        while self.grace is None:
            self._event("Normal", "Pulling", f'Pulling image "{image}"')
            self._event("Warning", "Failed", f'Failed to pull image "{image}": {fault.message}')
            self._event("Warning", "Failed", "Error: ErrImagePull")
            self._waiting("ErrImagePull", f'Failed to pull image "{image}": {fault.message}')
            if self._sleep(self.kubelet.retry):
                return
            self._event("Normal", "BackOff", f'Back-off pulling image "{image}"')
            self._event("Warning", "Failed", "Error: ImagePullBackOff")
            self._waiting(
                "ImagePullBackOff",
                f'Back-off pulling image "{image}": ErrImagePull: {fault.message}',
            )
            self._sleep(self.kubelet.retry)

    def _lookup(self, resource: str, name: str) -> Json | None:
        return self.state.find(resource, self.namespace, name)

    def _create(self) -> Process | None:
        """Resolve the container's config (retrying while a Secret is missing) and start it."""
        while self.grace is None:
            pod = self.state.get("pods", self.namespace, self.name)
            try:
                env = container_env(pod, self.container, self._lookup)
                mounts = mount_volumes(
                    pod, self.container, self._lookup, self.dir, self.kubelet.tokens.mint
                )
            except ConfigMissing as missing:
                self._waiting("CreateContainerConfigError", str(missing))
                self._event("Warning", "Failed", f"Error: {missing}")
                self._sleep(self.kubelet.retry)
                continue
            path, self.termination = termination_file(self.container, self.dir)
            mounts[path] = self.termination
            argv = self._argv(mounts)
            if argv:
                try:
                    return self._start(argv, env, mounts)
                except OSError as error:
                    self._start_failed(argv[0], error)
                    return None
            message = f'failed to generate container "{self.container["name"]}" spec: no command'
            self._waiting("CreateContainerError", message)
            self._event("Warning", "Failed", f"Error: {message}")
            self._sleep(self.kubelet.retry)
        return None

    def _argv(self, mounts: dict[str, Path]) -> list[str]:
        entry = self.container.get("command") or self.kubelet.images.get(self.container["image"])
        words = [*(entry or []), *(self.container.get("args") or [])]
        return [self._translate(word, mounts) for word in words] if entry else []

    def _translate(self, text: str, mounts: dict[str, Path]) -> str:
        """A mount path at the start of `text` moved to its local folder; the termination
        message path anywhere in it (a shell script writes it)."""
        path = str(self.container.get("terminationMessagePath") or "/dev/termination-log")
        if self.termination is not None:
            text = text.replace(path, str(self.termination))
        return translate(text, mounts)

    def _start(self, argv: list[str], env: dict[str, str], mounts: dict[str, Path]) -> Process:
        name, image = self.container["name"], self.container["image"]
        self._event("Normal", "Pulled", f'Container image "{image}" already present on machine')
        self._event("Normal", "Created", f"Created container: {name}")
        work = self.dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        full_env = {
            **self.kubelet.base_env,
            "HOSTNAME": self.name,
            **{k: self._translate(v, mounts) for k, v in env.items()},
        }
        log = ContainerLog()
        with self.kubelet._lock:
            self.kubelet.logs[(self.uid, name)] = log
        limit = memcg.limit_bytes(self.container) if self.kubelet.memory_cgroups else None
        if limit is not None:  # the kernel enforces the limit (opt-in: memcg.py)
            self.cgroup = memcg.MemoryCgroup(limit)
            argv = self.cgroup.wrap(argv)
        self.process = Process(argv, full_env, work, log, on_exit=self.wake.set)
        self._event("Normal", "Started", f"Started container {name}")
        self.started_at = now_rfc3339()
        running = {"running": {"startedAt": self.started_at}}
        self._update(
            lambda pod: pod["status"].update(
                phase="Running",
                conditions=conditions(ready=True),
                containerStatuses=[container_status(self.container, running, ready=True)],
            )
        )
        return self.process

    def _start_failed(self, command: str, error: OSError) -> None:
        """The runtime could not exec the command: exit 128, StartError, phase Failed."""
        message = (
            "failed to create containerd task: OCI runtime create failed: unable to start"
            f' container process: exec: "{command}": {error.strerror}'
        )
        self._event("Warning", "Failed", f"Error: {message}")
        self._terminated(128, "StartError", container_message=message)

    def _run(self, process: Process) -> None:
        fault = self.fault
        timed = isinstance(fault, OomKilled | Evicted | NodeLost | DeletedByOther)
        due = time.monotonic() + fault.after if timed else None  # type: ignore[union-attr]
        while True:
            left = 1.0 if due is None else max(0.0, min(1.0, due - time.monotonic()))
            self.wake.wait(left)
            self.wake.clear()
            code = process.wait(0)
            if self.grace is not None:
                self._terminate(process)
                return
            if code is not None:
                self._terminated(code, "Completed" if code == 0 else "Error")
                return
            if due is not None and time.monotonic() >= due:
                due = None
                if self._fault_strikes(process):
                    return

    def _fault_strikes(self, process: Process) -> bool:
        """Apply the timed fault; True when the pod's run is over."""
        fault = self.fault
        if isinstance(fault, OomKilled):
            process.kill()
            self._terminated(137, "OOMKilled")
        elif isinstance(fault, Evicted):
            self._evict(process, fault)
        elif isinstance(fault, NodeLost):
            self._lose_node(process, fault)
        elif isinstance(fault, DeletedByOther):
            self.state.delete_pod(self.namespace, self.name, None)
            return False
        return True

    def _terminated(self, code: int, why: str, **status: object) -> None:
        state = {
            "terminated": {
                "exitCode": code,
                "reason": why,
                "startedAt": self.started_at or now_rfc3339(),
                "finishedAt": now_rfc3339(),
                "containerID": f"containerd://{secrets.token_hex(32)}",
            }
        }
        message = status.pop("container_message", None)
        log = self.kubelet.log_of(self.uid, self.container["name"])
        if not message and self.termination is not None and log is not None:
            message = termination_message(self.container, self.termination, code, log)
        if message:
            state["terminated"]["message"] = message
        phase = terminated_phase(code, status)

        def finish(pod: Json) -> None:
            pod["status"].update(
                phase=phase,
                conditions=conditions(ready=False, reason="PodCompleted"),
                containerStatuses=[container_status(self.container, state, ready=False)],
            )
            pod["status"].update(status)

        self._update(finish)

    def _terminate(self, process: Process) -> None:
        """The pod is being deleted: SIGTERM, the grace period, SIGKILL, then it goes."""
        if self.gone:
            process.kill()
            return
        self._event("Normal", "Killing", f"Stopping container {self.container['name']}")
        process.signal(signal.SIGTERM)
        code = process.wait(float(self.grace or 0))
        if code is None:
            code = process.kill()
        self._terminated(code, "Completed" if code == 0 else "Error")
        self._remove()

    def _evict(self, process: Process, fault: Evicted) -> None:
        self._event("Warning", "Evicted", fault.message)
        self._event("Normal", "Killing", f"Stopping container {self.container['name']}")
        process.kill()
        disruption = {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": now_rfc3339(),
            "reason": "TerminationByKubelet",
            "message": fault.message,
        }
        self._terminated(137, "Error", reason="Evicted", message=fault.message)
        self._update(lambda pod: pod["status"]["conditions"].append(disruption))

    def _lose_node(self, process: Process, fault: NodeLost) -> None:
        """The node goes silent: its process dies unreported; later the node controller
        marks the pod not ready and deletes it (or fails it as NodeLost)."""
        process.kill()
        self.process = None
        self._sleep(fault.grace)
        self._update(
            lambda pod: pod["status"].update(
                conditions=conditions(ready=False, reason="NodeNotReady")
            )
        )
        self._event("Warning", "NodeNotReady", "Node is not ready", "node-controller")
        if not fault.delete:
            message = f"Node {NODE} which was running pod {self.name} is unresponsive"
            self._update(
                lambda pod: pod["status"].update(phase="Failed", reason="NodeLost", message=message)
            )
            return
        disruption = {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": now_rfc3339(),
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
        }

        def mark(pod: Json) -> None:
            pod["status"]["conditions"].append(disruption)
            deletion_stamp(pod, 30)

        self._update(mark)
        self._event(
            "Normal",
            "TaintManagerEviction",
            f"Marking for deletion Pod {self.namespace}/{self.name}",
            "taint-eviction-controller",
        )
        self.wake.clear()
        self.wake.wait(fault.grace)
        self.grace = 0
        self._remove()
