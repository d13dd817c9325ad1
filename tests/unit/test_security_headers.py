"""The pages' Content-Security-Policy allows exactly what each page needs."""

from __future__ import annotations

import base64
import hashlib
import re

from strawberry.http.ides import get_graphql_ide_html

from taskbell.web import graphiql, security
from taskbell.web.routes import STATIC_DIR

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.DOTALL)


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parsed}


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_client_page_has_no_inline_script_style_or_handler() -> None:
    """index.html loads everything from files, so its policy needs no hash or unsafe-inline."""
    page = (STATIC_DIR / "index.html").read_text()
    assert INLINE_SCRIPT.findall(page) == []
    assert "<style" not in page
    assert re.search(r"\son[a-z]+\s*=", page) is None
    assert re.search(r"\sstyle\s*=", page) is None
    assert "javascript:" not in page


def test_the_client_policy_allows_only_its_own_files_and_no_framing() -> None:
    policy = directives(security.client_headers()["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]


def test_graphiql_policy_allows_its_inline_blocks_by_hash_and_the_cdn_only_when_used() -> None:
    """The CDN page may load from the CDN; the local page may not; both hash their script."""
    cdn_page = get_graphql_ide_html()
    local_page = cdn_page.replace(graphiql.CDN_PREFIX, graphiql.LOCAL_PREFIX)
    (script,) = INLINE_SCRIPT.findall(cdn_page)
    for page, cdn_allowed in ((cdn_page, True), (local_page, False)):
        headers = security.graphiql_headers(page)
        policy = directives(headers["Content-Security-Policy"])
        assert sha256(script) in policy["script-src"]
        assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
        assert (security.CDN_ORIGIN in policy["script-src"]) is cdn_allowed
        assert policy["frame-ancestors"] == ["'none'"]
        assert headers["X-Content-Type-Options"] == "nosniff"
