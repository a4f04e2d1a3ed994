"""The system tier: the real scheduler, API and control plane in one process, with a fake
clock and a fake executor (`inprocess.py`). Each test gets a fresh system on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from system.inprocess import InProcess


@pytest.fixture
def brisa(tmp_path: Path) -> Iterator[InProcess]:
    system = InProcess(tmp_path / "home")
    try:
        yield system
    finally:
        system.close()
