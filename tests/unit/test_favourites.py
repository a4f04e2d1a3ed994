"""The favourites cookie (UI.md A.2.2): DAG keys in, DAG keys out; bad contents ignored."""

from __future__ import annotations

import pytest

from brisa.errors import InvalidInput
from brisa.web.ui import favourites
from brisa.web.ui.favourites import MAX_FAVOURITES, encode, parse, toggle


def test_keys_survive_the_cookie_with_any_id_characters() -> None:
    keys = (("data", "etl.daily"), ("ops-team", "a_b-c"), ("data", "x"))
    assert parse(encode(keys)) == keys
    assert favourites.from_cookies({favourites.FAV_COOKIE: encode(keys)}) == keys


@pytest.mark.parametrize(
    "value",
    ["", "garbage", "%ZZ", "no-slash,also-none", "data/<script>", "/x,data/", "a/b/c" * 2000,
     "%2C%2C%2C", "data%2F" + "x" * 300],
)  # fmt: skip
def test_a_malformed_cookie_is_ignored_without_error(value: str) -> None:
    assert parse(value) == ()


def test_bad_entries_are_dropped_and_good_ones_kept() -> None:
    value = encode([("data", "a")]) + "%2Cjunk%2Cdata%2Fb%2Cdata%2Fa%2Cdata%2F%3Cb%3E"
    assert parse(value) == (("data", "a"), ("data", "b"))


def test_starring_is_reversible_and_bounded() -> None:
    keys = toggle((), ("data", "a"), True)
    keys = toggle(keys, ("data", "b"), True)
    assert toggle(keys, ("data", "a"), True) == (("data", "b"), ("data", "a"))
    assert toggle(keys, ("data", "a"), False) == (("data", "b"),)
    full = tuple(("data", f"dag_{i}") for i in range(MAX_FAVOURITES))
    with pytest.raises(InvalidInput, match="at most 100 favourites"):
        toggle(full, ("data", "one_more"), True)
    assert len(toggle(full, ("data", "dag_0"), False)) == MAX_FAVOURITES - 1
    with pytest.raises(InvalidInput):
        toggle((), ("data", "bad/id"), True)
    too_many = ",".join(f"data/d{i}" for i in range(MAX_FAVOURITES + 20))
    assert len(parse(too_many)) == MAX_FAVOURITES
