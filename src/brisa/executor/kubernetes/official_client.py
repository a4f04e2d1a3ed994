"""The transport of `rest.RestApi` over the official Kubernetes client (`kubernetes>=36,<37`,
not installed with Brisa: `pip install 'kubernetes>=36,<37'`): its configuration loaders
(kubeconfig, in-cluster) and its urllib3 client, with raw JSON in and out. A second
implementation of the same port as `lightkube_client.py`, held to the same contract suite
(`tests/contract/test_kube_api.py`), so the executor depends on neither client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.config import ConfigException, load_kube_config
from kubernetes.config.incluster_config import InClusterConfigLoader

from brisa.executor.kubernetes.api import ApiAccess, Json, KubeError, Unreachable
from brisa.executor.kubernetes.rest import RestApi, error_from


def _token_hook(token_file: str) -> Any:
    """Read the token file before every call: a rotated token is used at once."""

    def refresh(configuration: Any) -> None:
        token = Path(token_file).read_text().strip()
        configuration.api_key = {"BearerToken": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}

    return refresh


def _configuration(access: ApiAccess) -> Any:
    configuration = k8s.Configuration()
    if access.server:
        configuration.host = access.server
        configuration.ssl_ca_cert = access.ca_file
        configuration.verify_ssl = not access.insecure
        if access.token_file:
            configuration.refresh_api_key_hook = _token_hook(access.token_file)
            configuration.refresh_api_key_hook(configuration)  # the client looks for a key
    elif access.kubeconfig:
        if not Path(access.kubeconfig).is_file():
            raise ConfigException(f"Configuration file {access.kubeconfig} not found")
        load_kube_config(
            config_file=access.kubeconfig,
            context=access.context,
            client_configuration=configuration,
        )
    else:
        root = Path(access.service_account)
        loader = InClusterConfigLoader(str(root / "token"), str(root / "ca.crt"))
        loader.load_and_set(configuration)
    configuration.retries = False  # a refused connection is reported, not retried here
    return configuration


def connect(access: ApiAccess) -> RestApi:
    """The port over the official client for `access`; a KubeError when it cannot be used."""
    try:
        configuration = _configuration(access)
    except (ConfigException, OSError) as error:
        message = f"cannot use {access.describe()}: {error}"
        raise KubeError(0, "ConfigError", message) from None
    return RestApi(OfficialTransport(k8s.ApiClient(configuration), access), access)


class OfficialTransport:
    """One `ApiClient` (a urllib3 pool) for every call."""

    def __init__(self, api_client: Any, access: ApiAccess) -> None:
        self._api, self._access = api_client, access

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Error answers as typed errors, transport failures as Unreachable."""
        where = self._access.describe()
        try:
            yield
        except k8s.ApiException as error:
            if not error.status:  # the client's wrapping of a transport failure
                message = f"{doing}: {where} is unreachable ({error.reason})"
                raise Unreachable(0, "Unreachable", message) from None
            body = error.body if isinstance(error.body, bytes) else str(error.body).encode()
            raise error_from(int(error.status), body, doing) from None
        except AttributeError as error:
            # The client fails on its own transport errors (a TLS failure): it decodes the
            # body of the ApiException it made, which is None.
            cause = error.__context__
            if not isinstance(cause, k8s.ApiException):
                raise
            message = f"{doing}: {where} is unreachable ({cause.reason})"
            raise Unreachable(0, "Unreachable", message) from None
        except urllib3.exceptions.NewConnectionError as error:  # a subclass of the timeout
            message = f"{doing}: {where} is unreachable ({error})"
            raise Unreachable(0, "Unreachable", message) from None
        except urllib3.exceptions.TimeoutError:
            message = f"{doing}: {where} did not answer within {self._access.timeout:g}s"
            raise Unreachable(0, "Timeout", message) from None
        except urllib3.exceptions.HTTPError as error:
            message = f"{doing}: {where} is unreachable ({error})"
            raise Unreachable(0, "Unreachable", message) from None
        except OSError as error:  # the token file
            raise KubeError(0, "ConfigError", f"{doing}: {error}") from None

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: Json | None,
        read_timeout: float,
    ) -> Any:
        return self._api.call_api(
            path,
            method,
            query_params=list((params or {}).items()),
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=(self._access.timeout, read_timeout),
        )

    def call(
        self, method: str, path: str, doing: str, params: dict[str, str] | None, body: Json | None
    ) -> Json:
        with self._errors(doing):
            response = self._request(method, path, params, body, self._access.timeout)
            result: Json = json.loads(response.data)
        return result

    @contextmanager
    def stream(
        self, path: str, doing: str, params: dict[str, str], read_timeout: float
    ) -> Iterator[Iterator[bytes]]:
        with self._errors(doing):
            response = self._request("GET", path, params, None, read_timeout)
        try:
            yield self._chunks(response, doing)
        finally:
            response.close()  # never hand a half-read connection back to the pool

    def _chunks(self, response: Any, doing: str) -> Iterator[bytes]:
        with self._errors(doing):
            yield from response.stream(amt=65536, decode_content=True)
