"""The worker's client of the execution API: one attempt's `start`, `heartbeat` and `finish`
calls, over urllib (no HTTP library on the worker's start-up path), with the attempt's token."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


class AttemptStale(Exception):
    """The API says this attempt is no longer current (cleared, cancelled, timed out), or no
    longer takes this worker's token (a new try or a relaunch replaced it): either way it will
    record nothing from this worker again, which must stop."""


class ExecutionClient:
    def __init__(self, api_url: str, token: str, ti_id: int, try_number: int) -> None:
        self.base = f"{api_url}/execution/v1/attempts/{ti_id}/{try_number}"
        self._token = token

    def call(self, verb: str, body: dict[str, Any], *, patience: float) -> Any:
        """POST with retries on connection errors for up to `patience` seconds. Raises
        AttemptStale on a 409 or 401, RuntimeError when refused otherwise or unreachable for
        that long."""
        deadline = time.monotonic() + patience
        delay = 0.2
        while True:
            request = urllib.request.Request(
                f"{self.base}/{verb}",
                data=json.dumps(body).encode(),
                method="POST",
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    payload = response.read()
                    return json.loads(payload) if payload else None
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                if exc.code in (401, 409):
                    raise AttemptStale(f"{exc.code} {detail}") from None
                if exc.code < 500 or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"execution API refused {verb}: {exc.code} {detail}"
                    ) from None
            except (urllib.error.URLError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"execution API unreachable for {verb}: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
