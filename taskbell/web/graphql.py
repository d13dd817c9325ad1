"""The GraphQL router: per-request context, WebSocket authentication, protocol handlers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, cast

from fastapi.requests import HTTPConnection, Request
from fastapi.responses import HTMLResponse
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types.unset import UNSET, UnsetType

from taskbell import auth
from taskbell.realtime.groups import Groups
from taskbell.runtime import Runtime
from taskbell.schema.context import Context
from taskbell.services import users
from taskbell.web import graphiql, security
from taskbell.web.graphql_http import GraphQLOverHTTPRouter
from taskbell.web.protocols import LegacyWSHandler, TransportWSHandler


def request_id(connection: HTTPConnection) -> str:
    return connection.headers.get("x-request-id") or uuid.uuid4().hex[:16]


async def get_context(connection: HTTPConnection) -> Context:
    """HTTP requests authenticate here; sockets do at ``connection_init``."""
    rt: Runtime = connection.app.state.runtime
    identity = None
    if connection.scope["type"] == "http":
        token = auth.bearer_token(connection.headers.get("authorization"))
        identity = await users.authenticate(rt, token)
    return Context(rt, identity, request_id(connection))


class TaskBellRouter(GraphQLOverHTTPRouter):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    groups: Groups | None = None

    @property
    def graphql_ide_html(self) -> str:
        """Strawberry's GraphiQL, with its assets served locally when they are installed."""
        return graphiql.page_html(super().graphql_ide_html)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL under a Content-Security-Policy that allows exactly its page."""
        page = self.graphql_ide_html
        return HTMLResponse(page, headers=security.graphiql_headers(page))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Accept only a valid token, from ``connectionParams`` or the upgrade request."""
        params: Any = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        if header is None and context.request is not None:
            header = context.request.headers.get("authorization")
        identity = await users.authenticate(context.rt, auth.bearer_token(header))
        if identity is None:
            raise ConnectionRejectionError({"message": "A valid bearer token is required."})
        context.identity = identity
        return cast("UnsetType", UNSET)


def create_router(schema: BaseSchema, rt: Runtime, groups: Groups) -> TaskBellRouter:
    """The GraphQL router. Subscriptions the core serves reach it only over WebSockets
    (``web.streams`` answers the HTTP streams first); Strawberry's own SSE and
    multipart handling is left for queries, mutations and invalid documents."""
    settings = rt.settings
    router = TaskBellRouter(
        schema,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            GRAPHQL_SSE_PROTOCOL,
            MULTIPART_SUBSCRIPTION_PROTOCOL,
        ),
        context_getter=get_context,
        keep_alive=True,
        keep_alive_interval=15,
        connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_seconds),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        allowed_origins=settings.allowed_origins,
    )
    router.groups = groups
    return router
