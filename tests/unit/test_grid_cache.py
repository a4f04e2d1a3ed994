"""The grid's cache of finished columns (`web/ui/gridcache.py`): least recently used out first,
bounded by its size, and a request keeps what it found even if another request evicts it."""

from __future__ import annotations

from datetime import UTC, datetime

from brisa.control.grid import ColumnKey, RowFilter
from brisa.web.ui.gridcache import GridCache, Lookup, for_settings

T = datetime(2026, 1, 1, tzinfo=UTC)


def key(run_pk: int, mark: tuple[int, int] = (1, 1), wanted: RowFilter | None = None) -> ColumnKey:
    return ColumnKey(run_pk, f"r{run_pk}", T, 1, "success", mark, 1, wanted or RowFilter())


CELLS = ["x" * 950] * 2  # about 3 KB an entry with its overhead


def test_the_least_recently_used_column_goes_first_when_over_size() -> None:
    cache = GridCache(max_bytes=7_000)  # two entries fit, not three
    cache.put((key(1), "/b", ""), CELLS)
    cache.put((key(2), "/b", ""), CELLS)
    assert cache.get((key(1), "/b", "")) == tuple(CELLS)  # 1 is now the most recent
    cache.put((key(3), "/b", ""), CELLS)
    assert cache.get((key(2), "/b", "")) is None
    assert cache.get((key(1), "/b", "")) is not None and cache.get((key(3), "/b", "")) is not None
    assert len(cache) == 2 and cache.size <= 7_000
    assert (cache.hits, cache.misses) == (3, 1)


def test_anything_in_the_key_makes_another_entry() -> None:
    cache = GridCache(max_bytes=1_000_000)
    cache.put((key(1), "/b", ""), CELLS)
    assert cache.get((key(1, mark=(2, 2)), "/b", "")) is None  # a transition since
    assert cache.get((key(1, wanted=RowFilter(text="a")), "/b", "")) is None  # other rows
    assert cache.get((key(1), "/b", "?runs=5")) is None  # other links
    assert cache.get((key(1), "/b", "")) is not None


def test_an_entry_larger_than_the_cache_is_not_kept_and_zero_means_no_cache() -> None:
    cache = GridCache(max_bytes=1_000)
    cache.put((key(1), "/b", ""), CELLS)
    assert len(cache) == 0 and cache.size == 0
    assert for_settings(0) is None
    made = for_settings(2)
    assert made is not None and made.max_bytes == 2_000_000


def test_a_request_keeps_what_it_found_whatever_is_evicted_meanwhile() -> None:
    cache = GridCache(max_bytes=4_000)  # one entry
    cache.put((key(1), "/b", "?q"), CELLS)
    mine = Lookup(cache, "/b", "?q")
    assert mine.held(key(1)) and not mine.held(key(2))
    Lookup(cache, "/b", "?q").keep(key(2), CELLS)  # another request evicts key 1
    assert cache.get((key(1), "/b", "?q")) is None
    assert mine.found[key(1)] == tuple(CELLS)
    assert not Lookup(None, "/b", "").held(key(1))  # no cache: nothing is held
