"""Browser tests of the web UI: Playwright driving Debian's Chromium against a real
`brisa standalone` (UI.md B.1).

  ui_server   one standalone for the session, on a copy of examples/dags
  browser     one Chromium per test module (see the fixture)
  page        a fresh context and page per test (UTC, light); its final state is saved as
              a screenshot under .artifacts/ui/<test>.png (look at them: docs/ui.md)
  new_page    more pages/contexts with chosen options (time zone, colour scheme, bypass_csp
              for axe, which is injected as a script)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing import browser as chromium
from brisa.testing.server import Standalone

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BRISA_ARTIFACTS", ROOT / ".artifacts")) / "ui"


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("ui-home")
    dags = home / "dags"
    shutil.copytree(ROOT / "examples" / "dags", dags)
    with Standalone(home, dags) as server:
        server.start(timeout=60)
        server.wait_until(lambda: len(server.get("/api/v1/dags")["dags"]) > 0, 30, "DAGs parsed")
        yield server


# One Chromium per test module, not per session: while Playwright's synchronous API is open,
# its event loop counts as running in this thread, and tests of other modules run by the same
# pytest process (two workers share the suite) could not call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = chromium.launch(playwright)
        yield launched
        launched.close()


def _artifact_name(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)[:120]


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("timezone_id", "UTC")
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for index, context in enumerate(contexts):
        for number, page in enumerate(context.pages):
            suffix = "" if index == number == 0 else f"-{index}-{number}"
            # A page that is gone has nothing to show.
            with contextlib.suppress(Exception):
                page.screenshot(path=ARTIFACTS / f"{_artifact_name(request.node)}{suffix}.png")
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()
