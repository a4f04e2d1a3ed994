"""The log server opens a log store once per location and options, not once per attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from brisa.logs import server
from brisa.logs.config import ShippingConfig


def test_attempts_with_the_same_store_share_one_opened_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = ShippingConfig.open_store

    def counting(self: ShippingConfig) -> object:
        opened.append(self.location)
        return real(self)

    monkeypatch.setattr(ShippingConfig, "open_store", counting)
    stores = server._Stores()
    here = ShippingConfig(location=f"file://{tmp_path / 'a'}")
    first = stores.opener(here)()
    assert stores.opener(ShippingConfig(location=f"file://{tmp_path / 'a'}"))() is first
    assert len(opened) == 1
    # Other options or another location: a store of its own.
    keyed = ShippingConfig(location=here.location, store_options={"region": "eu-west-3"})
    assert stores.opener(keyed)() is not first
    elsewhere = stores.opener(ShippingConfig(location=f"file://{tmp_path / 'b'}"))()
    assert elsewhere is not first and elsewhere.location.endswith("/b")
    assert len(opened) == 3


def test_only_a_few_stores_stay_open(tmp_path: Path) -> None:
    stores = server._Stores()
    configs = [
        ShippingConfig(location=f"file://{tmp_path / str(n)}")
        for n in range(server.STORES_KEPT + 2)
    ]
    first = stores.opener(configs[0])()
    for config in configs[1:]:
        stores.opener(config)()
    assert len(stores._open) == server.STORES_KEPT
    assert stores.opener(configs[0])() is not first  # evicted, opened again
