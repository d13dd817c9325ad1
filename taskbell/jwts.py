"""Host apps' JWTs: recognised by their shape, verified by PyJWT against the configured key.

HS256 with ``TASKBELL_JWT_SECRET``, or RS256/ES256 with a key from
``TASKBELL_JWKS_URL``; never both, so a public key can never be used as an HMAC
secret. ``iss`` must be ``TASKBELL_JWT_ISSUER``; ``aud`` is checked only when
``TASKBELL_JWT_AUDIENCE`` is set.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from taskbell.config import Settings
from taskbell.jwks import JwksCache

log = logging.getLogger(__name__)

REQUIRED_CLAIMS = ["exp", "iss", "sub"]
# Clock skew between the host app and us; no more than that past `exp`.
LEEWAY_SECONDS = 5
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@dataclass(frozen=True)
class Claims:
    """What TaskBell takes from a verified JWT."""

    issuer: str
    subject: str
    expires_at: datetime
    email: str | None
    name: str | None


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments with a JSON header (opaque tokens never contain a dot)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        return False
    try:
        jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False
    return True


class JwtVerifier:
    """Checks signature, ``iss``, ``aud`` and ``exp``; anything wrong is just a bad token."""

    def __init__(
        self,
        issuer: str,
        audience: str | None,
        *,
        secret: str | None = None,
        jwks: JwksCache | None = None,
    ) -> None:
        if (secret is None) == (jwks is None):
            raise ValueError("a JWT verifier needs a secret or a JWKS, not both")
        self._issuer = issuer
        self._audience = audience
        self._secret = secret
        self._jwks = jwks

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        """The configured verifier, or None when JWTs are not enabled (then they are refused)."""
        if settings.jwt_issuer is None:
            return None
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        if secret:
            return cls(settings.jwt_issuer, settings.jwt_audience, secret=secret)
        if settings.jwks_url:
            jwks = JwksCache(settings.jwks_url, settings.jwks_refetch_interval_seconds)
            return cls(settings.jwt_issuer, settings.jwt_audience, jwks=jwks)
        return None

    async def verify(self, token: str) -> Claims | None:
        """The token's claims when it is valid now, else None (the reason is logged at DEBUG)."""
        try:
            key, algorithm = await self._key(jwt.get_unverified_header(token))
            if key is None:
                log.debug("JWT refused: no key for its kid")
                return None
            payload = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as error:
            log.debug("JWT refused: %s", error)
            return None
        return claims_of(payload)

    async def _key(self, header: dict[str, Any]) -> tuple[str | jwt.PyJWK | None, str]:
        if self._secret is not None:
            return self._secret, "HS256"
        assert self._jwks is not None
        kid = header.get("kid")
        key = await self._jwks.key_for(kid if isinstance(kid, str) else None)
        # The key's own algorithm, never the token's `alg`: the token cannot pick it.
        return key, key.algorithm_name if key is not None else ""


def claims_of(payload: dict[str, Any]) -> Claims | None:
    """The claims TaskBell uses, or None when one has the wrong type."""
    email, name = payload.get("email"), payload.get("name")
    if not isinstance(email, str | None) or not isinstance(name, str | None):
        return None
    try:
        expires_at = datetime.fromtimestamp(payload["exp"], UTC)
    except (OverflowError, OSError, ValueError, TypeError):  # an `exp` past year 9999
        return None
    return Claims(payload["iss"], payload["sub"], expires_at, email, name)
