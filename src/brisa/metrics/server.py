"""The HTTP server of the processes without an API (`brisa scheduler`, `brisa dag-processor`):
`/metrics`, `/health/live` and `/health/ready` on a port of their own, in a daemon thread.

Answers only GET on those paths; a scrape or a probe runs in a thread of its own, so a slow
database check never holds up the next probe."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from brisa.errors import ConfigError

log = logging.getLogger("brisa.metrics")

Endpoint = Callable[[], tuple[int, str, bytes]]  # () -> (status, content type, body)


def json_endpoint(report: Callable[[], tuple[int, dict[str, Any]]]) -> Endpoint:
    def endpoint() -> tuple[int, str, bytes]:
        status, body = report()
        return status, "application/json", json.dumps(body).encode()

    return endpoint


class MetricsServer:
    def __init__(self, host: str, port: int, endpoints: dict[str, Endpoint]) -> None:
        routes = dict(endpoints)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint = routes.get(self.path.split("?", 1)[0])
                if endpoint is None:
                    known = ", ".join(sorted(routes))
                    body = json.dumps({"detail": f"no such path; this server answers {known}"})
                    self._send(404, "application/json", body.encode())
                    return
                self._send(*endpoint())

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would drown the process's log

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; choose another "
                "port ([metrics] scheduler_port, dag_processor_port or --metrics-port)"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics and health at http://%s:%d/metrics", *self._server.server_address[:2])
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
