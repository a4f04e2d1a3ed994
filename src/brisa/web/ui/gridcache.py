"""Finished runs' grid cells, kept as the HTML they were rendered to (W10: 24 of the DAG page's
25 columns are finished runs; reading and building their 4,800 cells was most of the page).

The key is the control plane's `ColumnKey` (the run, its version, its state and the mark of
its task transitions, read from the database with the runs, and the rows) plus the page's link
base and query string: a clear, a mark, a re-run, another version or another filter makes a
new key, in this process and in every other API replica, without any invalidation message.
Cells hold no time and no theme, so neither the display zone nor the theme is in the key.
One cache per application (`app.state.grid_cache`), least recently used first out, bounded by
the bytes it holds, roughly (`[ui] grid_cache_mb`; 0 keeps nothing)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from fastapi import Request

from brisa.control.grid import ColumnKey

Key = tuple[ColumnKey, str, str]  # the column's key, the page's link base, its query string
# What an entry costs beyond its text, roughly: each cell is a `str` object (about 50 bytes
# of header), and the key, the tuple and the dict slot about 1 KB.
_PER_CELL = 50
_OVERHEAD = 1_000


@dataclass
class GridCache:
    """Cells of finished columns (one escaped HTML string per row), LRU, at most about
    `max_bytes` of them in all. Thread-safe: pages render in the server's worker threads."""

    max_bytes: int
    hits: int = 0
    misses: int = 0
    _entries: OrderedDict[Key, tuple[str, ...]] = field(default_factory=OrderedDict)
    _size: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Key) -> tuple[str, ...] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Key, cells: list[str]) -> None:
        size = _cost(cells)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= _cost(old)
            self._entries[key] = tuple(cells)
            self._size += size
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= _cost(dropped)

    @property
    def size(self) -> int:
        """The bytes held, roughly (`_cost` of each entry)."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)


def _cost(cells: tuple[str, ...] | list[str]) -> int:
    """Bytes, roughly (the cells are ASCII but for escaped task ids)."""
    return sum(map(len, cells)) + _PER_CELL * len(cells) + _OVERHEAD


class Lookup:
    """One request's view of the cache: `held` answers the control plane (do I have this
    column's cells?) and keeps what it found, so a column found here is still there when the
    page is built, whatever other requests evict meanwhile."""

    def __init__(self, cache: GridCache | None, base: str, query: str) -> None:
        self._cache = cache
        self._base = base
        self._query = query
        self.found: dict[ColumnKey, tuple[str, ...]] = {}

    def held(self, key: ColumnKey) -> bool:
        if self._cache is None:
            return False
        cells = self._cache.get((key, self._base, self._query))
        if cells is not None:
            self.found[key] = cells
        return cells is not None

    def keep(self, key: ColumnKey, cells: list[str]) -> None:
        if self._cache is not None:
            self._cache.put((key, self._base, self._query), cells)


def lookup(request: Request, base: str, query: str) -> Lookup:
    """The application's cache (None when `[ui] grid_cache_mb` is 0) for one page's grid."""
    cache: GridCache | None = getattr(request.app.state, "grid_cache", None)
    return Lookup(cache, base, query)


def for_settings(megabytes: int) -> GridCache | None:
    return GridCache(megabytes * 1_000_000) if megabytes > 0 else None
