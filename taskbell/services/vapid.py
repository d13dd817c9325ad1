"""The VAPID key (RFC 8292) that signs every Web Push request: configured, or generated once.

Without ``TASKBELL_VAPID_PRIVATE_KEY`` the first process to need a key generates
one and offers it to ``server_keys`` with insert-if-absent; every process then
reads back the one row that won, so concurrent first uses end with one key, and
browsers' subscriptions (bound to the public key) survive restarts.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from sqlalchemy import select

from taskbell import models
from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.upserts import insert_for

KEY_NAME = "vapid_private_key"
_KEYS = models.Base.metadata.tables[models.ServerKey.__tablename__]


def load_pem(pem: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM, or ValueError saying what is wrong with it."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError("TASKBELL_VAPID_PRIVATE_KEY is not an unencrypted PEM key") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("TASKBELL_VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key")
    return key


def new_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_b64url(key: ec.EllipticCurvePrivateKey) -> str:
    """Base64url (unpadded) uncompressed point: PushManager.subscribe's applicationServerKey."""
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class VapidKeys:
    """One per process: the key, loaded (or generated) on first use and then kept."""

    def __init__(self, settings: Settings, sessions: Sessions) -> None:
        self._sessions = sessions
        configured = settings.vapid_private_key
        # A bad configured key fails at startup, not at the first push.
        self._key = load_pem(configured.get_secret_value()) if configured is not None else None
        self._lock = asyncio.Lock()

    async def private_key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            async with self._lock:
                if self._key is None:
                    self._key = load_pem(await self._stored_pem())
        return self._key

    async def public_key(self) -> str:
        return public_key_b64url(await self.private_key())

    async def signer(self) -> Any:
        """pywebpush's signer (py_vapid's RFC 8292 ``vapid t=..., k=...`` scheme)."""
        return Vapid02(private_key=await self.private_key())

    async def _stored_pem(self) -> str:
        """Offer a fresh key; whichever process inserted first wins, all read that one."""
        async with self._sessions.transaction() as connection:
            offer = insert_for(connection, _KEYS).values(name=KEY_NAME, value=new_pem())
            await connection.execute(offer.on_conflict_do_nothing(index_elements=["name"]))
        async with self._sessions.transaction() as connection:
            stored = await connection.scalar(select(_KEYS.c.value).where(_KEYS.c.name == KEY_NAME))
        assert stored is not None, "the key row was just written"
        return str(stored)
