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
_AUTHN = "authentication.k8s.io"
GROUPS: Json = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [
        {
            "name": group,
            "versions": [{"groupVersion": f"{group}/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": f"{group}/v1", "version": "v1"},
        }
        for group in (_AUTHN, _AUTHZ)
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
AUTHN_RESOURCES: Json = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{_AUTHN}/v1",
    "resources": [
        {
            "name": "tokenreviews",
            "singularName": "tokenreview",
            "namespaced": False,
            "kind": "TokenReview",
            "verbs": ["create"],
        }
    ],
}
TOKEN_REVIEW_PATH = f"/apis/{_AUTHN}/v1/tokenreviews"


# OpenAPI v3, only as much as kubectl reads to learn that the server validates fields itself
# (a PATCH operation per kind that takes `fieldValidation`): kubectl then sends
# `fieldValidation=Strict` instead of downloading the whole schema.
OPENAPI_ROOT: Json = {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=fake"}}}


def _patch_path(kind: str) -> Json:
    return {
        "patch": {
            "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": kind},
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
            ],
            "responses": {},
        }
    }


OPENAPI_V1: Json = {
    "openapi": "3.0.0",
    "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
    "paths": {
        f"/api/v1/{path}": _patch_path(kind)
        for path, kind in (
            ("namespaces/{namespace}/pods/{name}", "Pod"),
            ("namespaces/{namespace}/secrets/{name}", "Secret"),
            ("namespaces/{namespace}/configmaps/{name}", "ConfigMap"),
            ("namespaces/{namespace}/events/{name}", "Event"),
            ("namespaces/{name}", "Namespace"),
        )
    },
}
