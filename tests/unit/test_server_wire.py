"""The API server's HTTP parser and event loop: the C ones where importable, else uvicorn's own."""

from __future__ import annotations

import importlib.util

import pytest

from brisa.web import server


def test_the_c_parser_and_loop_serve_where_they_are_installed() -> None:
    assert server.wire() == ("httptools", "uvloop")


@pytest.mark.parametrize("missing", ["httptools", "uvloop"])
def test_a_missing_c_module_falls_back_to_uvicorns_own(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == missing else find_spec(name)
    )
    http, loop = server.wire()
    assert http == ("h11" if missing == "httptools" else "httptools")
    assert loop == ("asyncio" if missing == "uvloop" else "uvloop")
