"""A PostgreSQL cluster of the suite's own, made with Debian's binaries in a temporary folder
and listening on a free 127.0.0.1 port, so that the suite may restart it without touching
the machine's shared server.

`initdb` and `postgres` refuse to run as root (PostgreSQL's documented rule: the server must
run as an unprivileged user); as root they are run as the `postgres` user through `runuser`,
with the data folder owned by that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from brisa.testing.server import free_port

SERVER_USER = "postgres"


def binaries() -> Path | None:
    """The newest installed Debian PostgreSQL bin folder, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    return Path(found[-1]).parent if found else None


class OwnPostgres:
    """`start()`, `restart()`, `stop()`; `url(db)` is a SQLAlchemy URL on 127.0.0.1."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = bin_dir
        self._as: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam(SERVER_USER)  # KeyError: no such user, no cluster of our own
            self._as = ["runuser", "-u", SERVER_USER, "--"]
        # A folder of its own under /tmp (not a test's private tmp_path, which the server's
        # user could not enter), removed by `remove()`.
        self.folder = Path(tempfile.mkdtemp(prefix="brisa-chaos-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = free_port()

    def _run(self, *argv: str, timeout: float = 120) -> None:
        subprocess.run(
            [*self._as, *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            cwd="/",
        )

    def init(self) -> None:
        if self._as:
            shutil.chown(self.folder, SERVER_USER)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.folder}'",
            "max_connections = 200",
            "fsync = off",  # a throwaway cluster: durability across a crash of the machine
            "full_page_writes = off",  # is not what the suite tests, restarts are
            "shared_buffers = 64MB",
        ]
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n".join(settings) + "\n")

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        """Stop at once (every connection is cut, like a crash of the server; `immediate`
        skips the shutdown checkpoint) and start again."""
        self.stop("immediate")
        self.start()

    def url(self, database: str = "postgres", port: int | None = None) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port or self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        while True:
            try:
                with psycopg.connect(dsn, connect_timeout=2):
                    return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
