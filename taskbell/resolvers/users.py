"""me, login, logout."""

from __future__ import annotations

from taskbell.schema.types import AuthPayload, CtxInfo, User
from taskbell.services import users


async def me(info: CtxInfo) -> User:
    return User.from_model(info.context.require_identity().user)


async def login(info: CtxInfo, email: str, password: str) -> AuthPayload:
    issued, user = await users.login(info.context.rt, email, password, info.context.client_address)
    return AuthPayload(token=issued.token, user=User.from_model(user), expires_at=issued.expires_at)


async def logout(info: CtxInfo) -> bool:
    identity = info.context.require_identity()
    await users.revoke_token(info.context.rt, identity)
    return True
