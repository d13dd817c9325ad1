"""Whether the browser tests can run: Chromium at /usr/bin/chromium and the playwright package.

Playwright drives the Debian Chromium; it never downloads a browser of its own. Without
either, browser tests skip with the reason, except under CI=true where they fail.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.conftest import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def missing_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"Chromium is missing at {CHROMIUM} (apt-get install -y chromium)"
    return None


def require_browser() -> None:
    if reason := missing_browser():
        skip_or_fail(reason)
