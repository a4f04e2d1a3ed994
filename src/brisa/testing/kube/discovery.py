"""What clients read before they make a call: `/version`, `/api`, `/apis` and the resource
list of `/api/v1`, enough for kubectl and the official client to find pods and their friends."""

from __future__ import annotations

from brisa.testing.kube.objects import Json

VERSION: Json = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-brisa-fake",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _resource(name: str, kind: str, short: list[str], *, namespaced: bool = True) -> Json:
    entry: Json = {
        "name": name,
        "singularName": kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": _VERBS,
    }
    if short:
        entry["shortNames"] = short
    return entry


RESOURCES: Json = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        _resource("pods", "Pod", ["po"]) | {"categories": ["all"]},
        {
            "name": "pods/log",
            "singularName": "",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["get"],
        },
        _resource("secrets", "Secret", []),
        _resource("configmaps", "ConfigMap", ["cm"]),
        _resource("events", "Event", ["ev"]),
        _resource("namespaces", "Namespace", ["ns"], namespaced=False),
    ],
}


def api_versions(address: str) -> Json:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


_AUTHZ = "authorization.k8s.io"
GROUPS: Json = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [
        {
            "name": _AUTHZ,
            "versions": [{"groupVersion": f"{_AUTHZ}/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": f"{_AUTHZ}/v1", "version": "v1"},
        }
    ],
}
AUTHZ_RESOURCES: Json = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{_AUTHZ}/v1",
    "resources": [
        {
            "name": "selfsubjectaccessreviews",
            "singularName": "selfsubjectaccessreview",
            "namespaced": False,
            "kind": "SelfSubjectAccessReview",
            "verbs": ["create"],
        }
    ],
}
SSAR_PATH = f"/apis/{_AUTHZ}/v1/selfsubjectaccessreviews"
