"""A small REST client for the CLI: the API's resources as methods, errors as Brisa's.

Plain urllib on purpose: the CLI must start fast and needs no HTTP library. Every HTTP 4xx
becomes the Brisa error the server raised (its "detail" is the message), so the CLI's root
group prints it and exits 2 like any other mistake of the caller.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from brisa.core.webhooks import GITHUB_HEADER, github_signature
from brisa.errors import BrisaError, Conflict, InvalidInput, NotFound, Unauthorized

DEFAULT_API_URL = "http://127.0.0.1:8080"
HINT = "(set --api-url or BRISA_API_URL)"

_ERRORS: dict[int, type[BrisaError]] = {
    400: InvalidInput,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    415: InvalidInput,
    421: InvalidInput,
    422: InvalidInput,
}


class Disconnected(BrisaError):
    """A stream from the API broke off (or could not be opened); it can be resumed."""


@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event: its type ("message" unless named), data and id."""

    event: str
    data: str
    id: str | None


def parse_events(lines: Iterable[bytes]) -> Iterator[ServerEvent]:
    """Server-sent events from the lines of a text/event-stream body."""
    event, last_id = "message", None
    data: list[str] = []
    for raw in lines:
        line = raw.decode(errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield ServerEvent(event, "\n".join(data), last_id)
            event, data = "message", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            last_id = value


def quote(part: str) -> str:
    """One path segment, with '/', ':' and '+' escaped (run ids contain ':' and '+')."""
    return urllib.parse.quote(part, safe="")


def _detail(exc: urllib.error.HTTPError) -> str:
    body = exc.read().decode(errors="replace")
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        return body.strip() or exc.reason
    return detail if isinstance(detail, str) else json.dumps(detail)


class Client:
    """Talks to the REST API at `base_url` (e.g. http://127.0.0.1:8080)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"API URL {base_url!r} must start with http:// or https:// {HINT}")
        self.base_url = base_url
        self.timeout = timeout

    # --- transport ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        sign_with: str = "",
    ) -> Any:
        """Call `/api/v1{path}`; return the decoded JSON; raise a BrisaError on failure.

        With `sign_with`, the body carries a GitHub-style signature made with that secret.
        """
        url = f"{self.base_url}/api/v1{path}"
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if sign_with:
            headers[GITHUB_HEADER] = github_signature(sign_with, data or b"")
        if data is not None or method != "GET":  # the API refuses other writes (a web page's)
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self._unreachable(exc) from None
        try:
            return json.loads(payload) if payload else None
        except ValueError:
            raise BrisaError(
                f"{self.base_url} answered {method} {path} with something that is not JSON; "
                f"is it a Brisa API? {HINT}"
            ) from None

    def events(self, path: str, *, query: dict[str, Any], timeout: float) -> Iterator[ServerEvent]:
        """The server-sent events of `/api/v1{path}`, as they come.

        HTTP errors raise the Brisa error the server gave; a connection that cannot be made
        or breaks off (nothing for `timeout` seconds included) raises Disconnected.
        """
        params = {k: v for k, v in query.items() if v is not None}
        url = f"{self.base_url}/api/v1{path}?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                yield from parse_events(response)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (OSError, http.client.HTTPException) as exc:
            raise Disconnected(str(self._unreachable(exc))) from None

    def _http_error(self, exc: urllib.error.HTTPError) -> BrisaError:
        detail = _detail(exc)
        cls = _ERRORS.get(exc.code)
        if cls is not None:
            return cls(detail)
        return BrisaError(f"Brisa at {self.base_url} answered HTTP {exc.code}: {detail}")

    def _unreachable(self, exc: OSError | http.client.HTTPException) -> BrisaError:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ConnectionRefusedError):
            return BrisaError(
                f"cannot reach Brisa at {self.base_url}; is `brisa standalone` running? {HINT}"
            )
        return BrisaError(f"cannot reach Brisa at {self.base_url}: {reason} {HINT}")

    # --- DAGs ---------------------------------------------------------------------------
    @staticmethod
    def _dag(team: str, dag_id: str) -> str:
        return f"/teams/{quote(team)}/dags/{quote(dag_id)}"

    def find_dags(self, *, team: str | None = None, dag_id: str | None = None) -> Any:
        """Every DAG (of a team, with an id), following the list's pages."""
        query: dict[str, Any] = {"team": team, "dag_id": dag_id, "limit": 200}
        dags: list[Any] = []
        while True:
            page = self.request("GET", "/dags", query=query)
            dags += page["dags"]
            if not page.get("next_cursor"):
                return {"dags": dags}  # every page: no cursor, no page counts
            query["after"] = page["next_cursor"]

    def resolve(self, name: str) -> tuple[str, str]:
        """`team/dag_id` as given, or the one team that has a bare `dag_id`."""
        if "/" in name:
            team, dag_id = name.split("/", 1)
            if not team or not dag_id:
                raise InvalidInput(f"{name!r} is not a DAG name; use team/dag_id or a dag_id")
            return team, dag_id
        found = self.find_dags(dag_id=name)["dags"]
        if not found:
            raise NotFound(f"no DAG {name!r}; `brisa dags list` shows the DAGs there are")
        if len(found) > 1:
            names = ", ".join(sorted(f"{d['team']}/{d['dag_id']}" for d in found))
            raise InvalidInput(f"DAG id {name!r} exists in several teams ({names}); name one")
        return str(found[0]["team"]), str(found[0]["dag_id"])

    def get_dag(self, team: str, dag_id: str) -> Any:
        return self.request("GET", self._dag(team, dag_id))

    def set_paused(self, team: str, dag_id: str, paused: bool) -> Any:
        return self.request("PATCH", self._dag(team, dag_id), body={"is_paused": paused})

    def import_errors(self, *, team: str | None = None) -> Any:
        return self.request("GET", "/import-errors", query={"team": team})

    # --- runs ---------------------------------------------------------------------------
    def _run(self, team: str, dag_id: str, run_id: str) -> str:
        return f"{self._dag(team, dag_id)}/runs/{quote(run_id)}"

    def trigger(self, team: str, dag_id: str, *, conf: Any, run_id: str | None) -> Any:
        body: dict[str, Any] = {"conf": conf}
        if run_id is not None:
            body["run_id"] = run_id
        return self.request("POST", f"{self._dag(team, dag_id)}/runs", body=body)

    def list_runs(
        self, team: str, dag_id: str, *, state: str | None = None, limit: int | None = None
    ) -> Any:
        query = {"state": state, "limit": limit}
        return self.request("GET", f"{self._dag(team, dag_id)}/runs", query=query)

    def get_run(self, team: str, dag_id: str, run_id: str) -> Any:
        return self.request("GET", self._run(team, dag_id, run_id))

    def cancel(self, team: str, dag_id: str, run_id: str) -> Any:
        return self.request("POST", f"{self._run(team, dag_id, run_id)}/cancel", body={})

    # --- tasks --------------------------------------------------------------------------
    def list_tasks(self, team: str, dag_id: str, run_id: str) -> Any:
        return self.request("GET", f"{self._run(team, dag_id, run_id)}/tasks")

    def get_task(self, team: str, dag_id: str, run_id: str, task_id: str) -> Any:
        return self.request("GET", f"{self._run(team, dag_id, run_id)}/tasks/{quote(task_id)}")

    def logs(
        self,
        team: str,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int | None = None,
        offset: int = 0,
    ) -> Any:
        path = f"{self._run(team, dag_id, run_id)}/tasks/{quote(task_id)}/logs"
        return self.request("GET", path, query={"try": try_number, "offset": offset})

    def log_events(
        self,
        team: str,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int | None,
        offset: int,
        timeout: float = 60.0,
    ) -> Iterator[ServerEvent]:
        """A try's log as server-sent events: chunks (id = next offset), then `end`."""
        path = f"{self._run(team, dag_id, run_id)}/tasks/{quote(task_id)}/logs/stream"
        query = {"try": try_number, "offset": offset}
        return self.events(path, query=query, timeout=timeout)

    def clear(
        self, team: str, dag_id: str, run_id: str, task_ids: list[str], *, downstream: bool
    ) -> Any:
        body = {"task_ids": task_ids, "downstream": downstream}
        return self.request("POST", f"{self._run(team, dag_id, run_id)}/clear", body=body)

    def mark(self, team: str, dag_id: str, run_id: str, task_ids: list[str], state: str) -> Any:
        body = {"task_ids": task_ids, "state": state}
        return self.request("POST", f"{self._run(team, dag_id, run_id)}/mark", body=body)

    # --- repositories -------------------------------------------------------------------
    def list_repos(self) -> Any:
        return self.request("GET", "/repos")

    def get_repo(self, name: str) -> Any:
        return self.request("GET", f"/repos/{quote(name)}")

    def sync_repo(self, name: str, *, secret: str = "") -> Any:
        """Ask for a sync now; signed like a forge's webhook when `secret` is given."""
        return self.request("POST", f"/repos/{quote(name)}/sync", body={}, sign_with=secret)

    # --- pools --------------------------------------------------------------------------
    def _pools(self, team: str) -> str:
        return f"/teams/{quote(team)}/pools"

    def list_pools(self, team: str) -> Any:
        return self.request("GET", self._pools(team))

    def get_pool(self, team: str, name: str) -> Any:
        return self.request("GET", f"{self._pools(team)}/{quote(name)}")

    def set_pool(self, team: str, name: str, *, slots: int, description: str | None) -> Any:
        body: dict[str, Any] = {"slots": slots}
        if description is not None:
            body["description"] = description
        return self.request("PUT", f"{self._pools(team)}/{quote(name)}", body=body)

    def delete_pool(self, team: str, name: str) -> Any:
        return self.request("DELETE", f"{self._pools(team)}/{quote(name)}")
