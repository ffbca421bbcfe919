"""Dashboard fixtures: one real `roundtable serve` process and one headless Chromium per module.

The browser is Debian's `chromium` package driven by Playwright (no browser download): under
CI=true a missing /usr/bin/chromium fails the run, elsewhere the browser tests are skipped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from roundtable.config import Settings
from tests.live import LiveServer, subprocess_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the browser tests put their screenshots: a scratch directory, unless
#: `ROUNDTABLE_SCREENSHOTS` names one (`docs/screenshots` refreshes the docs' pictures), so a
#: test run never rewrites files in the checkout.
SCREENSHOTS = Path(
    os.environ.get("ROUNDTABLE_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "roundtable-screenshots"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`roundtable serve` as a real process on SQLite (the pages do not depend on the backend;
    the services under them are tested on both)."""
    root = tmp_path_factory.mktemp("dashboard")
    settings = Settings(
        data_dir=root / "data", database_url=f"sqlite+aiosqlite:///{root / 'roundtable.db'}"
    )
    with subprocess_server(settings, root / "serve.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def api(server: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    """One admin call to the HTTP API; the answer's JSON (None for 204)."""
    response = httpx.request(
        method, f"{server.api()}{path}", headers=server.headers, timeout=30, **kwargs
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None
