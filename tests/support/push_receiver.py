"""A real push service on 127.0.0.1 for the tests, standing in for the browser vendor's.

It makes each subscription's keys as a browser does (a P-256 key pair and a 16-byte
auth secret), checks every request as a push service must (RFC 8292 VAPID: an ES256
JWT signed by the ``k`` key, ``aud`` = this origin, ``exp`` ahead, a ``sub``; a ``TTL``;
``Content-Encoding: aes128gcm``), decrypts the body with ``http_ece`` (RFC 8291) as
the browser would, records the payload, and answers what the test scripted (201 else).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.local_service import LocalService
from tests.support.processes import HOST

CREATED = 201
# Scripted as an answer: take this long, then answer 201 (a push service that hangs).
HANG = -1
HANG_SECONDS = 3.0
MIN_TTL = 3600


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Browser:
    """One browser's PushSubscription: what registerPushSubscription takes, and its secrets."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)


@dataclass(frozen=True)
class Pushed:
    """One request as the push service saw it; ``problem`` is None when it was valid."""

    browser: str
    payload: dict[str, Any] | None
    problem: str | None
    answered: int
    ttl: int | None
    vapid_key: str | None
    claims: dict[str, Any]


@dataclass
class PushService(LocalService[Pushed]):
    _browsers: dict[str, Browser] = field(default_factory=dict)
    _answers: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def browser(self, name: str, *answers: int) -> Browser:
        """A new subscription at /push/<name>; it answers ``answers`` first, then 201."""
        made = Browser(
            name, f"{self.origin}/push/{name}", ec.generate_private_key(ec.SECP256R1()),
            os.urandom(16),
        )  # fmt: skip
        self._browsers[name] = made
        self._answers[name].extend(answers)
        return made

    def script(self, name: str, *answers: int) -> None:
        """What an existing subscription answers next."""
        self._answers[name].extend(answers)

    def at(self, name: str) -> list[Pushed]:
        return [p for p in self.received if p.browser == name]

    def payloads(self, name: str) -> list[dict[str, Any]]:
        """What the browser got: valid pushes the service accepted."""
        return [
            p.payload
            for p in self.at(name)
            if p.payload is not None and p.problem is None and p.answered == CREATED
        ]

    def routes(self) -> list[Route]:
        return [Route("/push/{name}", self._receive, methods=["POST"])]

    async def _receive(self, request: Request) -> Response:
        name = request.path_params["name"]
        browser = self._browsers.get(name)
        if browser is None:
            return Response(status_code=404)
        body = await request.body()
        ttl_header = request.headers.get("ttl", "")
        ttl = int(ttl_header) if ttl_header.isdigit() else None
        key, claims, problem = self._check_vapid(request.headers.get("authorization", ""))
        payload: dict[str, Any] | None = None
        if problem is None:
            problem = self._check_headers(request, ttl)
        if problem is None:
            try:
                plain = http_ece.decrypt(
                    body,
                    private_key=browser.private_key,
                    auth_secret=browser.auth_secret,
                    version="aes128gcm",
                )
                payload = json.loads(plain)
            except Exception as error:  # any failure to decrypt is the sender's fault
                problem = f"could not decrypt: {type(error).__name__}: {error}"
        answers = self._answers[name]
        status = (answers.popleft() if answers else CREATED) if problem is None else 400
        if status == HANG:
            await asyncio.sleep(HANG_SECONDS)
            status = CREATED
        self.received.append(Pushed(name, payload, problem, status, ttl, key, claims))
        return Response(status_code=status)

    def _check_headers(self, request: Request, ttl: int | None) -> str | None:
        if ttl is None or ttl < MIN_TTL:
            return f"TTL {request.headers.get('ttl')!r} is below {MIN_TTL}"
        encoding = request.headers.get("content-encoding")
        if encoding != "aes128gcm":
            return f"Content-Encoding {encoding!r} is not aes128gcm"
        return None

    def _check_vapid(self, header: str) -> tuple[str | None, dict[str, Any], str | None]:
        """RFC 8292: ``vapid t=<jwt>, k=<key>``; the JWT is ES256 by ``k``, for this origin."""
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "vapid":
            return None, {}, f"Authorization {header!r} is not vapid"
        parts = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
        token, key = parts.get("t"), parts.get("k")
        if not token or not key:
            return key, {}, "vapid needs both t and k"
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                audience=self.origin,
                options={"require": ["exp", "aud", "sub"]},
            )
        except (ValueError, jwt.InvalidTokenError) as error:
            return key, {}, f"bad VAPID JWT: {type(error).__name__}: {error}"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return key, claims, f"sub {claims['sub']!r} is neither mailto: nor https:"
        if claims["exp"] > time.time() + 24 * 3600:
            return key, claims, "exp is more than 24 hours ahead (RFC 8292)"
        return key, claims, None
