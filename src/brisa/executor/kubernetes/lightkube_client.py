"""The transport of `rest.RestApi` over lightkube: lightkube reads the access (kubeconfig,
in-cluster service account, token file re-read when refused, exec plugins, TLS) and builds the
HTTP client (httpx2, kept-alive connections, thread-safe). Its typed models and its `watch`
are not used: the JSON stays as the server sent it, and watches ask for bookmarks. Imported
only by `api.connect()`."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError

from brisa.executor.kubernetes.api import ApiAccess, Json, KubeError, Unreachable
from brisa.executor.kubernetes.rest import RestApi, error_from


def _single_config(access: ApiAccess) -> SingleConfig:
    if access.server:
        cluster = Cluster(
            server=access.server, certificate_auth=access.ca_file, insecure=access.insecure
        )
        config = KubeConfig.from_one(cluster=cluster, user=User(token_file=access.token_file))
    elif access.kubeconfig:
        config = KubeConfig.from_file(access.kubeconfig)
    else:
        try:
            config = KubeConfig.from_service_account(access.service_account)
        except KeyError as missing:
            raise ConfigError(f"{missing} is not set: Brisa is not running in a pod") from None
    single = config.get(context_name=access.context)
    if single is None:
        raise ConfigError(f"no context {access.context or '(current)'} in the kubeconfig")
    return single


def connect(access: ApiAccess) -> RestApi:
    """The port over lightkube's client for `access`; a KubeError when it cannot be used."""
    try:
        config = _single_config(access)
        server = config.cluster.server
        loopback = urllib.parse.urlsplit(server).hostname in ("127.0.0.1", "localhost", "::1")
        params = ConnectionParams(timeout=httpx.Timeout(access.timeout), trust_env=not loopback)
        options = params.httpx_params(config)
    except (ConfigError, OSError) as error:
        message = f"cannot use {access.describe()}: {error}"
        raise KubeError(0, "ConfigError", message) from None
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
    return RestApi(LightkubeTransport(httpx.Client(**options, limits=limits), access), access)


class LightkubeTransport:
    """One httpx2 client for every call."""

    def __init__(self, client: httpx.Client, access: ApiAccess) -> None:
        self._client, self._access = client, access

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Transport failures as Unreachable, credential files as KubeError."""
        where = self._access.describe()
        try:
            yield
        except httpx.TimeoutException:
            message = f"{doing}: {where} did not answer within {self._access.timeout:g}s"
            raise Unreachable(0, "Timeout", message) from None
        except httpx.TransportError as error:
            message = f"{doing}: {where} is unreachable ({error or type(error).__name__})"
            raise Unreachable(0, "Unreachable", message) from None
        except ConfigError as error:
            raise KubeError(0, "ConfigError", f"{doing}: {error}") from None

    def call(
        self, method: str, path: str, doing: str, params: dict[str, str] | None, body: Json | None
    ) -> Json:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        with self._errors(doing):
            response = self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        if response.status_code >= 400:
            raise error_from(response.status_code, response.content, doing)
        result: Json = response.json()
        return result

    @contextmanager
    def stream(
        self, path: str, doing: str, params: dict[str, str], read_timeout: float
    ) -> Iterator[Iterator[bytes]]:
        timeout = httpx.Timeout(self._access.timeout, read=read_timeout)
        with (
            self._errors(doing),
            self._client.stream("GET", path, params=params, timeout=timeout) as response,
        ):
            if response.status_code >= 400:
                raise error_from(response.status_code, response.read(), doing)
            yield self._chunks(response, doing)

    def _chunks(self, response: httpx.Response, doing: str) -> Iterator[bytes]:
        with self._errors(doing):
            yield from response.iter_bytes()
