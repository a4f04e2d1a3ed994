"""Where an attempt's log lives: one object-store prefix per attempt, never shared."""

from __future__ import annotations

import itertools

import pytest

from brisa.logs.layout import attempt_prefix, decode_part, encode_part

IDS = [
    "manual__2026-01-01T00:00:00+00:00",
    "scheduled__2026-01-01T00:00:00+00:00",
    "cli:fails+for-good",
    "a=b",
    "etl_orders",
    "load.v2",
    ".",
    "..",
    "...",
    "_",
    "__",
    "",
    "café",
    "caf_",
    "caf~C3~A9",
    "caf%C3%A9",
    "a/b",
    "a_b",
    "../etc",
    "~",
    "~2E",
    "日本",
    "a b",
    "\ud800",  # a lone surrogate, as JSON may carry
]


def test_ids_of_safe_ascii_characters_keep_todays_keys() -> None:
    # Logs written before the encoding existed stay readable.
    assert (
        attempt_prefix("data", "etl", "manual__2026-01-01T00:00:00+00:00", "load", 3)
        == "data/etl/manual__2026-01-01T00:00:00+00:00/load/attempt=3/"
    )
    for part in ("cli:fails+for-good", "a=b", "x-y.z", "_", "A9"):
        assert encode_part(part) == part


@pytest.mark.parametrize("part", IDS)
def test_every_id_is_encoded_reversibly_into_one_safe_path_component(part: str) -> None:
    encoded = encode_part(part)
    assert decode_part(encoded) == part
    assert encoded not in ("", ".", "..")
    assert "/" not in encoded
    assert encoded.isascii()


def test_different_ids_never_share_a_prefix() -> None:
    prefixes = {
        attempt_prefix(team, dag, run, task, 1)
        for team, dag, run, task in itertools.product(["t", "t_", "té"], IDS, IDS, ["x", "x."])
    }
    assert len(prefixes) == 3 * len(IDS) * len(IDS) * 2


@pytest.mark.parametrize(
    ("a", "b"), [(".", "_"), ("..", "_"), ("", "_"), ("café", "caf_"), ("a/b", "a_b")]
)
def test_ids_that_used_to_collide_have_their_own_logs(a: str, b: str) -> None:
    assert attempt_prefix("t", "d", a, "x", 1) != attempt_prefix("t", "d", b, "x", 1)
    assert attempt_prefix("t", a, "r", "x", 1) != attempt_prefix("t", b, "r", "x", 1)
    assert attempt_prefix("t", "d", "r", a, 1) != attempt_prefix("t", "d", "r", b, 1)
