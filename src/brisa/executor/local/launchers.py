"""How the local executor starts a worker process.

`forkserver` (the default) keeps one small server process (`brisa.executor.local.forkserver`)
with Brisa's worker code already imported, and forks a fresh process from it for every
attempt: a few milliseconds instead of a new interpreter importing everything (about 150 ms
of CPU each), which is what fan-out and the gap between chained tasks cost. `spawn` starts a
new interpreter (`python -m brisa task run ...`) per attempt.

Either way the worker runs the same entrypoint, `brisa.worker.main.main`, in a new session (its
own process group), with stdout and stderr going to the attempt's spool file, an environment
without Brisa's own variables (`without_settings`), and its execution token on a socket it
inherits (`worker.env.token_channel`), never in its environment or command line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Protocol

from brisa.worker.env import TOKEN_FD, token_channel
from brisa.worker.warmed import WarmKey

OWN_PREFIX = "BRISA_"  # settings (BRISA__SECTION__KEY), BRISA_HOME, the wire format's


def without_settings(environ: Mapping[str, str], private: Collection[str] = ()) -> dict[str, str]:
    """`environ` without Brisa's own variables: its settings (`BRISA__SECTION__KEY`: the
    secret key, the database URL and its password, S3 keys, ...), `BRISA_HOME` (where the
    server keeps its state) and any other `BRISA_*`, nor the `private` ones (variables the
    server reads credentials from, such as a repository's `password_env`). A worker is handed
    what it needs explicitly by the executor (`WorkerEnv`); user code must not read the rest."""
    return {
        name: value
        for name, value in environ.items()
        if not name.startswith(OWN_PREFIX) and name not in private
    }


class Launcher(Protocol):
    def start(
        self,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        token: str,
        warm: WarmKey | None = None,
    ) -> int:
        """Start a worker with these `brisa task run` arguments and this environment, handing
        it `token` through `token_channel`; returns its pid. `warm`: what the attempt will run,
        for a launcher that keeps DAG files imported (ADR 0014); the others ignore it."""


class SpawnLauncher:
    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._children: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        token: str,
        warm: WarmKey | None = None,
    ) -> int:
        self._children = [c for c in self._children if c.poll() is None]  # reap
        channel = token_channel(token)
        try:
            with open(log_path, "ab") as log:
                child = subprocess.Popen(
                    [self.python, "-m", "brisa", "task", "run", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**env, TOKEN_FD: str(channel)},
                    start_new_session=True,
                    close_fds=True,
                    pass_fds=(channel,),
                )
        finally:
            os.close(channel)
        self._children.append(child)
        return child.pid


class ForkServerLauncher:
    def __init__(
        self,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        private: Collection[str] = (),
        warm: tuple[int, float] | None = None,
    ):
        self.python = python
        # With `(limit, idle)`: warm processes of the fork server (`executor.warm`).
        self.warm = warm
        # The server's own environment never holds settings: its children are forks of it,
        # and a fork's /proc/PID/environ shows the environment its process was started with.
        self.env = dict(env) if env is not None else without_settings(os.environ, private)
        self._server: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None
        self._lock = threading.Lock()

    def _ensure_server(self) -> tuple[subprocess.Popen[bytes], socket.socket]:
        if self._server is None or self._server.poll() is not None or self._channel is None:
            self._stop_server()
            # Requests go over a socket pair, each request one message with the attempt's
            # token channel attached as a descriptor: the server passes the descriptor on and
            # never reads a token (its memory is what every worker forked later starts with).
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with theirs:
                self._server = subprocess.Popen(
                    [
                        self.python,
                        "-m",
                        "brisa.executor.local.forkserver",
                        str(theirs.fileno()),
                        *self._warm_args(),
                    ],
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    pass_fds=(theirs.fileno(),),
                )
            self._channel = ours
        return self._server, self._channel

    def _warm_args(self) -> list[str]:
        return [] if self.warm is None else ["--warm", str(self.warm[0]), str(self.warm[1])]

    def start(
        self,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        token: str,
        warm: WarmKey | None = None,
    ) -> int:
        fields: dict[str, object] = {"argv": argv, "env": dict(env), "log": str(log_path)}
        if warm is not None and self.warm is not None:
            fields["warm"] = warm.to_json()
        request = json.dumps(fields).encode()
        with self._lock:
            for attempt in range(2):  # a server that died is restarted once
                _, channel = self._ensure_server()
                tokens = token_channel(token)
                try:
                    socket.send_fds(channel, [request], [tokens])
                    answer = channel.recv(64)
                except OSError:
                    answer = b""
                finally:
                    os.close(tokens)
                if answer.strip().isdigit():
                    return int(answer)
                self._stop_server()
                if attempt:
                    break
        raise RuntimeError("the worker fork server did not start a worker")

    def close(self) -> None:
        with self._lock:
            self._stop_server(timeout=5)

    def _stop_server(self, timeout: float = 0) -> None:
        """Closing the channel ends the server (its workers carry on); one that does not end
        within `timeout` is killed."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        server, self._server = self._server, None
        if server is not None and server.poll() is None:
            try:
                server.wait(timeout=timeout or 0.5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def launcher(
    method: str, private: Collection[str] = (), warm: tuple[int, float] | None = None
) -> Launcher:
    """The launcher of `[executor] start_method`; `private` as for `without_settings`; `warm`
    the fork server's warm processes (limit, idle seconds), None for none."""
    if method == "spawn":
        return SpawnLauncher()
    return ForkServerLauncher(private=private, warm=warm)
