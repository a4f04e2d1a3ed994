"""The object store on a local folder: one file per key, written atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from brisa.errors import InvalidInput, NotFound
from brisa.objectstore.base import ObjectInfo


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.location = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # here: the fork server preloads this module, its workers never write

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # readers see the old object or the new one, never half
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
