"""The GraphQL WebSocket endpoint as a plain ASGI route, ahead of FastAPI's router.

Through FastAPI every socket paid for routing, dependency solving (the context
getter, a sub-response, background tasks) and three exit stacks, and kept
them all for as long as it stayed open: about 11 KiB of Python objects and
part of the ~2-3 ms of CPU per connect. Here the socket goes straight to the
same Strawberry view (``web.graphql.TaskBellRouter``) with the same context
``get_context`` would build; origins are checked before (``web.origins``) and
by the view itself, and authentication happens at ``connection_init`` as
before. Any other request goes on unchanged.
"""

from __future__ import annotations

from starlette.background import BackgroundTasks
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from taskbell.schema.context import Context
from taskbell.web.graphql import TaskBellRouter, request_id

PATH = "/graphql"


class SocketRoute:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        view: TaskBellRouter | None = getattr(scope["app"].state, "graphql_view", None)
        if scope["type"] != "websocket" or scope["path"] != PATH or view is None:
            await self.app(scope, receive, send)
            return
        websocket = WebSocket(scope, receive, send)
        context = Context(scope["app"].state.runtime, None, request_id(websocket))
        context.request = websocket
        context.background_tasks = BackgroundTasks()
        await view.run(request=websocket, context=context, root_value=None)
