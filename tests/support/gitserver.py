"""Git remotes for tests, all on 127.0.0.1 and all stopped by their context managers:

- `Upstream`: a bare repository plus a working copy that commits, pushes, force-pushes,
  tags and deletes branches in it;
- `GitDaemon`: `git daemon` serving a folder of bare repositories over git://;
- `HttpGitServer`: smart HTTP (`git http-backend` as CGI) behind HTTP Basic auth, optionally
  hanging once the client has authenticated;
- `HangingServer`: accepts TCP connections and never answers;
- `closed_port()`: a port nothing listens on.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from brisa.repos.git import base_env, run_git
from brisa.testing.server import free_port

# Test-side git commands run like Brisa's own (no user or system config, no prompt), with a
# fixed identity.
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(*args: str, cwd: Path | None = None) -> str:
    """Run a test-side git command; its stdout (stripped). GitError with git's stderr."""
    return run_git(list(args), timeout=30, cwd=cwd, env=base_env(IDENTITY)).decode().strip()


def closed_port() -> int:
    """A loopback port that nothing listens on (connecting is refused)."""
    return free_port()


def _wait_listening(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.02)
    return False


class _Stoppable:
    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Stoppable:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# The upstream repository
# ---------------------------------------------------------------------------------------------


class Upstream:
    """`<base>/<name>.git` (bare, what Brisa fetches) and a working copy that pushes to it."""

    def __init__(self, base: Path, name: str = "dags", work: Path | None = None) -> None:
        self.base = base
        self.name = name
        self.bare = base / f"{name}.git"
        self.work = work or base.parent / f"{name}-work"
        base.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", "-b", "main", str(self.bare))
        git("init", "--quiet", "-b", "main", str(self.work))

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def git(self, *args: str) -> str:
        return git(*args, cwd=self.work)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def branch(self) -> str:
        return self.git("symbolic-ref", "--short", "HEAD")

    def commit(self, files: Mapping[str, str | None], message: str = "change") -> str:
        """Write (or, for None, delete) files, commit, push the current branch; its SHA."""
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        self.push()
        return self.head()

    def push(self, *, force: bool = False) -> None:
        branch = self.branch()
        self.git("push", "--quiet", *(["--force"] if force else []), str(self.bare), branch)

    def rewind(self, steps: int = 1) -> str:
        """Drop the last commits and force-push: the branch moves back."""
        self.git("reset", "--quiet", "--hard", f"HEAD~{steps}")
        self.push(force=True)
        return self.head()

    def replace_history(self, files: Mapping[str, str]) -> str:
        """Force-push one new commit with no common history with the old branch."""
        branch = self.branch()
        self.git("checkout", "--quiet", "--orphan", "brisa-orphan")
        self.git("rm", "-r", "--quiet", "--force", "--ignore-unmatch", ".")
        self.git("clean", "-fdq")
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", "new history")
        self.git("branch", "--quiet", "-M", branch)
        self.push(force=True)
        return self.head()

    def tag(self, name: str, *, annotated: bool = True) -> str:
        """Tag HEAD and push the tag; the tagged commit's SHA."""
        extra = ["-a", "-m", name] if annotated else []
        self.git("tag", *extra, name)
        self.git("push", "--quiet", str(self.bare), f"refs/tags/{name}")
        return self.head()

    def create_branch(self, name: str) -> str:
        self.git("push", "--quiet", str(self.bare), f"HEAD:refs/heads/{name}")
        return self.head()

    def delete_branch(self, name: str) -> None:
        self.git("push", "--quiet", str(self.bare), "--delete", name)


# ---------------------------------------------------------------------------------------------
# git daemon
# ---------------------------------------------------------------------------------------------


class GitDaemon(_Stoppable):
    """`git daemon` on 127.0.0.1, serving every bare repository under `base`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        for _ in range(3):  # the free port may be taken between the check and the bind
            if self._start(free_port()):
                return
        raise RuntimeError("git daemon did not start")

    def _start(self, port: int) -> bool:
        command = ["git", "daemon", "--reuseaddr", f"--base-path={self.base}", "--export-all"]
        command += ["--listen=127.0.0.1", f"--port={port}", "--informative-errors"]
        proc = subprocess.Popen(
            command, env=base_env(IDENTITY), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if _wait_listening(port) and proc.poll() is None:
            self._proc, self.port = proc, port
            return True
        proc.kill()
        proc.wait()
        return False

    def url(self, name: str = "dags") -> str:
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


# ---------------------------------------------------------------------------------------------
# Smart HTTP with Basic auth
# ---------------------------------------------------------------------------------------------


class _GitHandler(BaseHTTPRequestHandler):
    server: _HttpServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read their own captured output

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        owner = self.server.owner
        owner.requests += 1
        if not self._authorized(owner):
            owner.refused += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="brisa-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if owner.hang:
            owner.hanging.set()
            owner.stopped.wait(60)
            return
        self._cgi(owner)

    def _authorized(self, owner: HttpGitServer) -> bool:
        if owner.token is None:
            return True
        header = self.headers.get("Authorization", "")
        expected = base64.b64encode(f"{owner.username}:{owner.token}".encode()).decode()
        return header == f"Basic {expected}"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            chunk = self.rfile.read(size)
            self.rfile.readline()
            if size == 0:
                return body
            body += chunk

    def _plain(self, body: bytes) -> bytes:
        if self.headers.get("Content-Encoding", "").lower() in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        return body

    def _cgi(self, owner: HttpGitServer) -> None:
        path, _, query = self.path.partition("?")
        body = self._body() if self.command == "POST" else b""
        if b"command=fetch" in self._plain(body):
            owner.fetches += 1
            if owner.fetch_delay:
                owner.fetching.set()
                owner.stopped.wait(owner.fetch_delay)
        env = {
            **base_env(IDENTITY),
            "GIT_PROJECT_ROOT": str(owner.base),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": owner.username,
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=30
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: HttpGitServer


class HttpGitServer(_Stoppable):
    """Smart HTTP for the bare repositories under `base` at `url(name)`. With `token`, every
    request needs HTTP Basic auth with `username`/`token` (401 otherwise). With `hang`, an
    authenticated request is never answered (until `stop()`); `hanging` is set when one came.
    With `fetch_delay`, each request for objects (a fetch, not a listing of refs) is answered
    that many seconds late (or at `stop()`), so that a test can act while git fetches;
    `fetching` is set when one came.
    """

    def __init__(
        self,
        base: Path,
        *,
        username: str = "",
        token: str | None = None,
        hang: bool = False,
        fetch_delay: float = 0.0,
    ) -> None:
        self.base = base
        self.username = username
        self.token = token
        self.hang = hang
        self.fetch_delay = fetch_delay
        self.fetching = threading.Event()
        self.requests = 0
        self.refused = 0
        self.fetches = 0  # requests for objects (protocol v2 "fetch" commands)
        self.hanging = threading.Event()
        self.stopped = threading.Event()
        self._server = _HttpServer(("127.0.0.1", 0), _GitHandler)
        self._server.owner = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name: str = "dags") -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def stop(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# A server that never answers
# ---------------------------------------------------------------------------------------------


class HangingServer(_Stoppable):
    """Accepts TCP connections on 127.0.0.1 and never sends or reads a byte."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)

    def url(self, scheme: str = "http", name: str = "dags") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{name}.git"

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        for conn in self._conns:
            conn.close()
        self._sock.close()
