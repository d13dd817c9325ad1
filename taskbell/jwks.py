"""A host app's public signing keys (a JWKS over HTTP), cached and refetched sparingly.

A token naming a ``kid`` the cache does not hold refetches the set (that is how
key rotation reaches us), but at most once per interval: a flood of made-up
kids costs the JWKS host one request per interval, not one per token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
import jwt

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"RS256", "ES256"})
FETCH_TIMEOUT_SECONDS = 5.0
# Keys the host app withdrew stop working this long after, at the latest.
MAX_AGE_SECONDS = 300.0


class JwksCache:
    """Signing keys by ``kid``; only fetches from inside ``key_for``, never blocking the loop."""

    def __init__(
        self,
        url: str,
        min_refetch_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None) -> jwt.PyJWK | None:
        """The key named ``kid`` (or the only key, for a token without one), or None."""
        key = self._find(kid)
        if key is not None and not self._stale():
            return key
        async with self._lock:  # one fetch at a time; the waiters then read its result
            if (self._find(kid) is None or self._stale()) and self._may_fetch():
                await self._fetch()
            return self._find(kid)

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    def _stale(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at > MAX_AGE_SECONDS

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._min_refetch

    async def _fetch(self) -> None:
        """Replace the keys with the published set; on failure keep the old ones."""
        self._fetched_at = self._clock()  # a failed fetch counts too: no hammering a sick host
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS) as client:
                response = await client.get(self._url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("could not fetch the JWKS at %s: %s", self._url, error)
            return
        self._keys = signing_keys(document)
        log.info("JWKS at %s: %d signing key(s)", self._url, len(self._keys))


def signing_keys(document: object) -> dict[str | None, jwt.PyJWK]:
    """The RS256/ES256 signature keys of a JWKS document, by ``kid``; others are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: dict[str | None, jwt.PyJWK] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError):  # malformed remote input: skip it
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[key.key_id] = key
    return keys
