"""The GraphQL endpoint's WebSockets and POSTs as a plain ASGI route, ahead of FastAPI's router.

Through FastAPI every socket paid for routing, dependency solving (the context
getter, a sub-response, background tasks) and three exit stacks, and kept
them all for as long as it stayed open: about 11 KiB of Python objects and
part of the ~2-3 ms of CPU per connect. A POST (every mutation) paid the same
per request. Here both go straight to the same Strawberry view
(``web.graphql.TaskBellRouter``) with the context ``get_context`` builds:
origins are checked before (``web.origins``), sockets authenticate at
``connection_init`` and requests by their Authorization header, as before.
GETs (GraphiQL, persisted queries) and, with OpenTelemetry on, POSTs (so that
FastAPI traces them) take FastAPI's route; so does any other path.
"""

from __future__ import annotations

from cross_web import HTTPException
from fastapi.requests import Request
from starlette.background import BackgroundTasks
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from taskbell.schema.context import Context
from taskbell.web.graphql import TaskBellRouter, get_context, request_id
from taskbell.web.graphql_http import SUB_RESPONSE

PATH = "/graphql"


class GraphQLRoute:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        state = scope["app"].state
        view: TaskBellRouter | None = getattr(state, "graphql_view", None)
        if kind == "lifespan" or scope["path"] != PATH or view is None:
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await _socket(view, scope, receive, send)
        elif scope["method"] == "POST" and not state.runtime.settings.opentelemetry:
            await _post(view, scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _socket(view: TaskBellRouter, scope: Scope, receive: Receive, send: Send) -> None:
    websocket = WebSocket(scope, receive, send)
    context = Context(scope["app"].state.runtime, None, request_id(websocket))
    context.request = websocket
    context.background_tasks = BackgroundTasks()
    await view.run(request=websocket, context=context, root_value=None)


async def _post(view: TaskBellRouter, scope: Scope, receive: Receive, send: Send) -> None:
    """What Strawberry's FastAPI route does for a POST, without FastAPI's dependencies."""
    request = Request(scope, receive)
    context = await get_context(request)
    # As FastAPI's sub-response: no status of its own, headers a resolver may add.
    sub_response = Response()
    del sub_response.headers["content-length"]
    sub_response.status_code = None  # type: ignore[assignment]
    context.request, context.response = request, sub_response
    context.background_tasks = tasks = BackgroundTasks()
    scope[SUB_RESPONSE] = sub_response
    try:
        response = await view.run(request=request, context=context, root_value=None)
    except HTTPException as error:
        response = PlainTextResponse(error.reason, status_code=error.status_code)
    response.background = tasks
    await response(scope, receive, send)
