"""Security headers for TaskBell's two HTML pages: the web client at ``/`` and GraphiQL.

The client has no inline code, so its policy allows TaskBell's own files only. GraphiQL's
page (Strawberry's) carries one inline script and one inline style: its policy allows
exactly those, by hash, plus the CDN while the page still loads its assets from there.
Both may only be framed by nobody, and both reach the API on their own origin only
(CSP Level 3 ``'self'`` covers ``ws:``/``wss:`` to the same host and port).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re

from taskbell.web import graphiql

# Sent with both pages: no MIME sniffing, no URL (GraphiQL keeps the query in it) leaks
# to other sites, no framing by browsers that predate frame-ancestors.
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_BASE = (
    "default-src 'none'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CLIENT_POLICY = "; ".join(("script-src 'self'", "style-src 'self'", *_BASE))
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.DOTALL)
_INLINE_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)
CDN_ORIGIN = graphiql.CDN_PREFIX.rstrip("/")


def client_headers() -> dict[str, str]:
    """Headers for the web client's page."""
    return {"Content-Security-Policy": CLIENT_POLICY, **COMMON}


@functools.lru_cache(maxsize=4)
def graphiql_headers(page: str) -> dict[str, str]:
    """Headers for a GraphiQL ``page``: its inline blocks by hash, the CDN if it uses it."""
    cdn = (CDN_ORIGIN,) if graphiql.CDN_PREFIX in page else ()
    scripts = " ".join(("'self'", *_hashes(_INLINE_SCRIPT, page), *cdn))
    styles = " ".join(("'self'", *_hashes(_INLINE_STYLE, page), *cdn))
    policy = "; ".join((f"script-src {scripts}", f"style-src {styles}", *_BASE))
    return {"Content-Security-Policy": policy, **COMMON}


def _hashes(pattern: re.Pattern[str], page: str) -> list[str]:
    return [f"'sha256-{_sha256(block)}'" for block in pattern.findall(page)]


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
