"""The object store on a local folder: one file per key, written atomically."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from brisa.errors import InvalidInput, NotFound
from brisa.objectstore.base import ObjectInfo

_KNOWN_FOLDERS = 4096  # folders remembered as present; forgotten all at once beyond this
_names = itertools.count()  # temporary names, unique in the process with its pid and thread


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.location = f"file://{self.root}"
        # Folders this store made or found: a put into one of them (a log's next chunk, its
        # full.log) makes no folder, and one under a new folder (the next task's attempt) makes
        # only the missing ones, from the nearest one known. A folder removed since is found
        # missing (ENOENT) and made again.
        self._folders: set[Path] = set()

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        fd, tmp = self._temporary(path.parent)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)  # readers see the old object or the new one, never half
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _temporary(self, folder: Path) -> tuple[int, Path]:
        """A new file in `folder` (made if missing), open for writing: its fd and its path."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        tries = 0
        while True:
            self._make(folder)
            tmp = folder / f".tmp-{os.getpid()}-{threading.get_ident()}-{next(_names)}"
            try:
                return os.open(tmp, flags, 0o600), tmp
            except (FileNotFoundError, FileExistsError):  # folder removed since; name taken
                tries += 1
                if tries == 3:
                    raise
                self._folders.discard(folder)

    def _make(self, folder: Path) -> None:
        """Make `folder` and its missing parents: from the nearest one known to be there, one
        mkdir each, without first trying the ones that cannot be made yet."""
        missing = []
        while folder not in self._folders and folder != self.root.parent:
            missing.append(folder)
            folder = folder.parent
        if not missing:
            return
        if len(self._folders) >= _KNOWN_FOLDERS:
            self._folders.clear()
        try:
            for path in reversed(missing):
                path.mkdir(exist_ok=True)
        except FileNotFoundError:  # a folder known was removed since
            self._folders.clear()
            missing[0].mkdir(parents=True, exist_ok=True)
        self._folders.update(missing)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                f.seek(start)
                return f.read() if end is None else f.read(max(end - start, 0))
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in {self.location}") from None

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        found: list[ObjectInfo] = []
        for dirpath, _, filenames in os.walk(base):
            for name in filenames:
                if name.startswith(".tmp-"):
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        st = path.stat()
                    except FileNotFoundError:  # removed while listing (chunks -> full.log)
                        continue
                    modified = datetime.fromtimestamp(st.st_mtime, UTC)
                    found.append(ObjectInfo(key, st.st_size, modified))
        return sorted(found, key=lambda o: o.key)

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)
