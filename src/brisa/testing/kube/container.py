"""One container of the fake kubelet as a local process: its environment and volumes resolved
from the pod (values, Secret and ConfigMap references, the downward API), its command, its
process group, and its log.

A pod's volumes are folders under the pod's own temporary directory. A container cannot see
them at their `mountPath`, so the kubelet rewrites a `mountPath` at the start of an env value,
a command word or `workingDir` to the local folder (`/var/run/secrets/x/token` becomes
`<pod dir>/mounts/var/run/secrets/x/token`).

The container's termination message file (`terminationMessagePath`, `/dev/termination-log`
by default) is a file of its own under the pod's directory, as the kubelet bind-mounts one;
its path is rewritten wherever it appears in a command word or an env value (so
`sh -c 'echo 1 > /dev/termination-log'` writes it). When the container ends, the message is
read as a real kubelet reads it (`termination_message`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from brisa.testing.kube.objects import Json, now_rfc3339_nano
from brisa.testing.kube.satokens import DEFAULT_EXPIRATION

Lookup = Callable[[str, str], Json | None]  # (resource, name) → object in the pod's namespace
Mint = Callable[[Json, str, int], str]  # (pod, audience, expirationSeconds) → a bound token


class ConfigMissing(Exception):
    """A Secret, ConfigMap or key the container needs is missing: CreateContainerConfigError."""


def _ref_value(lookup: Lookup, resource: str, ref: Json) -> str | None:
    kind = "secret" if resource == "secrets" else "configmap"
    obj = lookup(resource, ref.get("name", ""))
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigMissing(f'{kind} "{ref.get("name", "")}" not found')
    data = _data(obj)
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise ConfigMissing(
            f"couldn't find key {ref['key']} in {kind.capitalize()} "
            f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        )
    return data[ref["key"]]


def _data(obj: Json) -> dict[str, str]:
    """A Secret's data decoded (and its stringData), or a ConfigMap's data."""
    if obj.get("kind") == "Secret":
        decoded = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        return {**decoded, **(obj.get("stringData") or {})}
    return dict(obj.get("data") or {})


def _field_value(pod: Json, path: str) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
    if path.startswith("metadata.labels['"):
        return str((meta.get("labels") or {}).get(path[len("metadata.labels['") : -2], ""))
    if path.startswith("metadata.annotations['"):
        key = path[len("metadata.annotations['") : -2]
        return str((meta.get("annotations") or {}).get(key, ""))
    values = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIP": status.get("podIP", ""),
    }
    return str(values.get(path, ""))


def _env_value(pod: Json, lookup: Lookup, var: Json) -> str | None:
    source = var.get("valueFrom")
    if source is None:
        return str(var.get("value", ""))
    if "secretKeyRef" in source:
        return _ref_value(lookup, "secrets", source["secretKeyRef"])
    if "configMapKeyRef" in source:
        return _ref_value(lookup, "configmaps", source["configMapKeyRef"])
    if "fieldRef" in source:
        return _field_value(pod, source["fieldRef"]["fieldPath"])
    return ""


def _env_from(lookup: Lookup, source: Json) -> dict[str, str]:
    for key, resource in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
        if key in source:
            ref = source[key]
            obj = lookup(resource, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    return {}
                kind = "secret" if resource == "secrets" else "configmap"
                raise ConfigMissing(f'{kind} "{ref.get("name", "")}" not found')
            prefix = source.get("prefix", "")
            return {prefix + name: value for name, value in _data(obj).items()}
    return {}


def container_env(pod: Json, container: Json, lookup: Lookup) -> dict[str, str]:
    """The container's variables in the order the kubelet applies them: `envFrom`, then
    `env` (later wins); ConfigMissing when a reference cannot be resolved."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env.update(_env_from(lookup, source))
    for var in container.get("env") or []:
        value = _env_value(pod, lookup, var)
        if value is not None:
            env[var["name"]] = value
    return env


def _volume_files(volume: Json, lookup: Lookup, pod: Json, mint: Mint) -> dict[str, str] | None:
    """The files a Secret, ConfigMap or projected volume holds; None for a volume kind with no
    files. A projected `serviceAccountToken` is a token bound to the pod (`satokens.py`)."""
    if "projected" in volume:
        files: dict[str, str] = {}
        for source in volume["projected"].get("sources") or []:
            token = source.get("serviceAccountToken")
            if token is not None:
                expiration = int(token.get("expirationSeconds") or DEFAULT_EXPIRATION)
                files[token["path"]] = mint(pod, token.get("audience", ""), expiration)
            elif "secret" in source:  # a projected Secret is named by `name`
                secret = {**source["secret"], "secretName": source["secret"].get("name", "")}
                files.update(_volume_files({"secret": secret}, lookup, pod, mint) or {})
            else:
                files.update(_volume_files(source, lookup, pod, mint) or {})
        return files
    for key, resource, name_key in (
        ("secret", "secrets", "secretName"),
        ("configMap", "configmaps", "name"),
    ):
        if key in volume:
            source = volume[key]
            obj = lookup(resource, source.get(name_key, ""))
            if obj is None:
                if source.get("optional"):
                    return {}
                raise ConfigMissing(f'{key.lower()} "{source.get(name_key, "")}" not found')
            data = _data(obj)
            items = source.get("items")
            if items:
                return {item["path"]: data[item["key"]] for item in items if item["key"] in data}
            return data
    return None


def mount_volumes(
    pod: Json, container: Json, lookup: Lookup, root: Path, mint: Mint
) -> dict[str, Path]:
    """Materialise the container's mounts under `root`; mountPath → local folder."""
    volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes") or []}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"], {})
        local = root / "mounts" / mount["mountPath"].lstrip("/")
        local.mkdir(parents=True, exist_ok=True)
        files = _volume_files(volume, lookup, pod, mint) or {}
        if mount.get("subPath"):
            files = {
                k[len(mount["subPath"]) + 1 :]: v
                for k, v in files.items()
                if k.startswith(mount["subPath"] + "/")
            }
        for name, content in files.items():
            (local / name).parent.mkdir(parents=True, exist_ok=True)
            (local / name).write_text(content)
        mounts[mount["mountPath"].rstrip("/") or "/"] = local
    return mounts


def translate(text: str, mounts: dict[str, Path]) -> str:
    """A path under a mountPath, moved to where the fake kubelet put that volume."""
    for mount_path in sorted(mounts, key=len, reverse=True):
        if text == mount_path or text.startswith(mount_path + "/"):
            return str(mounts[mount_path]) + text[len(mount_path) :]
    return text


# What the kubelet keeps of a termination message (kubelet's
# MaxContainerTerminationMessageLength: the last 4 KiB of the file), and of the log for
# `FallbackToLogsOnError` (the last 80 lines, at most 2 KiB).
MESSAGE_MAX_BYTES = 4096
FALLBACK_LINES, FALLBACK_MAX_BYTES = 80, 2048


def termination_file(container: Json, root: Path) -> tuple[str, Path]:
    """The container's termination message path and the (empty) local file behind it."""
    path = str(container.get("terminationMessagePath") or "/dev/termination-log")
    local = root / "termination" / container["name"]
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(b"")
    return path, local


def termination_message(container: Json, local: Path, code: int, log: ContainerLog) -> str:
    """`state.terminated.message` as the kubelet sets it: the tail of the file; with the
    `FallbackToLogsOnError` policy, an empty file and a non-zero exit, the tail of the log."""
    try:
        with local.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - MESSAGE_MAX_BYTES))
            data = file.read()
    except OSError:
        data = b""
    fallback = container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
    if not data and fallback and code != 0:
        lines = b"".join(chunk for _, chunk in log.chunks).splitlines(keepends=True)
        data = b"".join(lines[-FALLBACK_LINES:])[-FALLBACK_MAX_BYTES:]
    return data.decode(errors="replace")


class ContainerLog:
    """Everything the container wrote to stdout and stderr, stamped per read, and whether it
    is over; readers wait on `grew`."""

    def __init__(self) -> None:
        self.grew = threading.Condition()
        self.chunks: list[tuple[str, bytes]] = []
        self.closed = False

    def append(self, data: bytes) -> None:
        with self.grew:
            self.chunks.append((now_rfc3339_nano(), data))
            self.grew.notify_all()

    def close(self) -> None:
        with self.grew:
            self.closed = True
            self.grew.notify_all()

    def read_from(self, index: int, wait: float) -> tuple[list[tuple[str, bytes]], bool]:
        """Chunks from `index` on (waiting up to `wait` seconds for one), and whether the log
        is over."""
        with self.grew:
            if index >= len(self.chunks) and not self.closed:
                self.grew.wait(wait)
            return self.chunks[index:], self.closed and index >= len(self.chunks)


class Process:
    """The container's command in its own session (process group), output to a ContainerLog."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        log: ContainerLog,
        on_exit: Callable[[], object],
    ) -> None:
        self.log = log
        self._on_exit = on_exit
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True, name="fake-kubelet-log")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in iter(self.proc.stdout.readline, b""):
                self.log.append(line)
        self.proc.wait()
        self.log.close()
        self._on_exit()

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code as the container runtime reports it (128 + signal when killed), or
        None while it runs."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(5)
        return 128 - code if code < 0 else code

    def kill(self) -> int:
        self.signal(signal.SIGKILL)
        code = self.wait(10)
        return 137 if code is None else code
