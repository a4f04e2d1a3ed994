"""The JSON of the fake API server: `Status` error bodies (`ApiStatus`), timestamps, and what
the real API server does to a pod on create (validation with a 422 `Invalid`, defaults)."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def now_rfc3339() -> str:
    """Seconds precision, `Z`, as `metav1.Time` is written."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339_nano() -> str:
    """Nanosecond form, as log timestamps and `eventTime` are written."""
    stamp = time.time()
    whole = datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int((stamp % 1) * 1e9):09d}Z"


def new_uid() -> str:
    return str(uuid.uuid4())


class ApiStatus(Exception):
    """An error answer: the HTTP code and the `Status` body the real server sends with it."""

    def __init__(self, code: int, reason: str, message: str, details: Json | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def body(self) -> Json:
        body: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, resource: str, name: str) -> ApiStatus:
        details = {"name": name, "kind": resource}
        return cls(404, "NotFound", f'{resource} "{name}" not found', details)

    @classmethod
    def already_exists(cls, resource: str, name: str) -> ApiStatus:
        details = {"name": name, "kind": resource}
        return cls(409, "AlreadyExists", f'{resource} "{name}" already exists', details)

    @classmethod
    def bad_request(cls, message: str) -> ApiStatus:
        return cls(400, "BadRequest", message)

    @classmethod
    def gone(cls, message: str) -> ApiStatus:
        return cls(410, "Expired", message)

    @classmethod
    def unauthorized(cls) -> ApiStatus:
        return cls(401, "Unauthorized", "Unauthorized")

    @classmethod
    def forbidden(cls, user: str, verb: str, resource: str, namespace: str) -> ApiStatus:
        group, _, sub = resource.partition("/")
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        subresource = f"/{sub}" if sub else ""
        message = (
            f'{resource} is forbidden: User "{user}" cannot {verb} resource "{group}{subresource}"'
            f' in API group ""{where}'
        )
        return cls(403, "Forbidden", message, {"kind": group})

    @classmethod
    def invalid(cls, kind: str, name: str, causes: list[tuple[str, str]]) -> ApiStatus:
        text = ", ".join(f"{field}: {message}" for field, message in causes)
        details = {
            "name": name,
            "kind": kind,
            "causes": [
                {
                    "reason": "FieldValueRequired"
                    if "Required" in message
                    else "FieldValueInvalid",
                    "message": message,
                    "field": field,
                }
                for field, message in causes
            ],
        }
        return cls(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)


def check_name(kind: str, name: str) -> None:
    if not name:
        causes = [("metadata.name", "Required value: name or generateName is required")]
        raise ApiStatus.invalid(kind, "", causes)
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        message = (
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case'
            " alphanumeric characters, '-' or '.', and must start and end with an alphanumeric"
            " character"
        )
        raise ApiStatus.invalid(kind, name, [("metadata.name", message)])


def _container_causes(containers: list[Json]) -> list[tuple[str, str]]:
    causes: list[tuple[str, str]] = []
    for index, container in enumerate(containers):
        where = f"spec.containers[{index}]"
        name = container.get("name")
        if not name:
            causes.append((f"{where}.name", "Required value"))
        elif not _DNS_LABEL.match(str(name)) or len(str(name)) > 63:
            causes.append((f"{where}.name", f'Invalid value: "{name}": must be a DNS label'))
        if not container.get("image"):
            causes.append((f"{where}.image", "Required value"))
    return causes


def validate_pod(pod: Json) -> None:
    """The checks of the real server that a manifest is most likely to fail: a name, at least
    one container, each with a name and an image."""
    name = str(pod.get("metadata", {}).get("name") or "")
    check_name("Pod", name)
    containers = pod.get("spec", {}).get("containers")
    if not containers:
        raise ApiStatus.invalid("Pod", name, [("spec.containers", "Required value")])
    causes = _container_causes(containers)
    if causes:
        raise ApiStatus.invalid("Pod", name, causes)


def _pull_policy(image: str) -> str:
    tag = image.rsplit("/", 1)[-1]
    if "@" in tag:
        return "IfNotPresent"
    return "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"


def _qos_class(containers: list[Json]) -> str:
    resources = [container.get("resources") or {} for container in containers]
    if not any(res.get("requests") or res.get("limits") for res in resources):
        return "BestEffort"
    guaranteed = all(
        res.get("limits", {}).get("cpu")
        and res.get("limits", {}).get("memory")
        and res.get("requests", res.get("limits")) == res.get("limits")
        for res in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod: Json, namespace: str) -> Json:
    """The pod as the API server stores it: the defaults of `spec` and its containers, and a
    `Pending` status."""
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    for container in spec["containers"] + spec.get("initContainers", []):
        container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
    pod["status"] = {"phase": "Pending", "qosClass": _qos_class(spec["containers"])}
    return pod


def new_metadata(obj: Json, namespace: str | None) -> Json:
    """Name kept, `uid`, `creationTimestamp` and the namespace set by the server."""
    meta = obj.setdefault("metadata", {})
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
    if namespace is not None:
        meta["namespace"] = namespace
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = now_rfc3339()
    for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
        meta.pop(key, None)
    return obj["metadata"]  # type: ignore[no-any-return]
