"""Web Push: the VAPID public key, and registering a browser's subscription."""

from __future__ import annotations

from taskbell.schema.types import CtxInfo
from taskbell.services import push


async def web_push_public_key(info: CtxInfo) -> str | None:
    info.context.require_identity()
    return await info.context.rt.vapid.public_key()


async def register_push_subscription(info: CtxInfo, endpoint: str, p256dh: str, auth: str) -> bool:
    user = info.context.require_identity().user
    return await push.register_subscription(info.context.rt, user.id, endpoint, p256dh, auth)


async def unregister_push_subscription(info: CtxInfo, endpoint: str) -> bool:
    user = info.context.require_identity().user
    return await push.unregister_subscription(info.context.rt, user.id, endpoint)
