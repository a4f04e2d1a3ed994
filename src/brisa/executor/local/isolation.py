"""What the local executor does before it runs tasks as another OS user (`[executor]
run_as_user`, ADR 0008): Brisa's state under $BRISA_HOME made private to Brisa's own user.

The task user may pass through $BRISA_HOME (mode 0711: not list it) to read the code it runs
(`code/`, `repos/`, a DAG folder inside it), and nothing else there: the config file, the
SQLite database (its WAL and shared-memory files take its mode), the secret key, the worker
registry, the spool and the local log store are for Brisa's user only. Workers write the
last three before they drop to the task user, or from their log process, which never does.
"""

from __future__ import annotations

from pathlib import Path

PRIVATE_FILES = ("brisa.toml", "brisa.db", "brisa.db-wal", "brisa.db-shm", "secret_key")
PRIVATE_FOLDERS = ("workers", "spool", "logs")


def make_private(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o711)
    for name in PRIVATE_FILES:
        path = home / name
        if path.exists():
            path.chmod(0o600)
    for name in PRIVATE_FOLDERS:
        folder = home / name
        folder.mkdir(exist_ok=True)
        folder.chmod(0o700)
