"""GraphiQL at /graphql: Strawberry's page, with its assets served by TaskBell when installed.

Strawberry's page loads React and GraphiQL from unpkg, so it is blank offline.
``scripts/fetch-graphiql-assets.sh``, which every build runs (``setup.py``), mirrors those
files (unpkg's layout) into ``static/vendor/``; while every one of them is there, the page
points at them instead.
"""

from __future__ import annotations

import re
from pathlib import Path

CDN_PREFIX = "https://unpkg.com/"
LOCAL_PREFIX = "/static/vendor/"
VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
_CDN_ASSET = re.compile(re.escape(CDN_PREFIX) + r'([^"\s]+)')


def cdn_assets(page: str) -> list[str]:
    """The files a GraphiQL page loads from the CDN, as ``<package>@<version>/<path>``."""
    return _CDN_ASSET.findall(page)


def installed(page: str, vendor_dir: Path = VENDOR_DIR) -> bool:
    """Whether every CDN file of ``page`` has a local copy in ``vendor_dir``."""
    assets = cdn_assets(page)
    return bool(assets) and all((vendor_dir / asset).is_file() for asset in assets)


def page_html(cdn_page: str, vendor_dir: Path = VENDOR_DIR) -> str:
    """``cdn_page`` loading its assets from TaskBell when all are installed, else unchanged.

    Checked per request (a few stat calls), so installing the assets needs no restart.
    The pages keep their ``integrity`` hashes, so the browser still verifies every file.
    """
    if not installed(cdn_page, vendor_dir):
        return cdn_page
    return cdn_page.replace(CDN_PREFIX, LOCAL_PREFIX)
