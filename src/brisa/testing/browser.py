"""Headless Chromium for the browser tests and benchmarks: Debian's `/usr/bin/chromium`, driven
by Playwright (never `playwright install`). Flags keep it from reaching the network: on this
machine the network is closed, and Chromium's background connections would be refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path(os.environ.get("BRISA_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
AXE = Path(__file__).resolve().parents[3] / "tests" / "e2e" / "vendor" / "axe-4.10.3.min.js"


def launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: install Debian's package (`apt-get install chromium`; "
            "`make test` does) or set BRISA_CHROMIUM"
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=FLAGS, timeout=30_000
    )


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """axe-core's violations of the given impacts on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in result if v.get("impact") in impacts]


def inline_scripts(page: Page) -> int:
    """How many `<script>` elements carry code in the page instead of naming a file."""
    count: int = page.evaluate(
        "() => [...document.scripts].filter(s => !s.src && s.textContent.trim()).length"
    )
    return count
