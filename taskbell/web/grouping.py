"""Grouped subscriptions: one GraphQL execution and one JSON encoding per event per group.

Live ``taskStatusUpdated`` subscriptions with the same document, variables,
token and project scope would receive identical payloads, so they form one
group: a single stream (``services.live``) feeds it, each event is executed
once through graphql-core against the Strawberry schema (which stays the one
source of truth), encoded once, and the same bytes go to every member with
only its operation id spliced in. Validation and authorization happen at
subscribe time. Each member has a bounded queue of frames, drained by its own
task, so a slow socket never holds the group back (it is closed with 4413 when
the queue overflows). Subscriptions that resume with ``after`` or ask for
anything else take Strawberry's ordinary per-subscriber path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import Executor, execute_subscription_event, get_argument_values
from graphql.validation import ASTValidationRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema import BaseSchema

from taskbell.errors import DomainError
from taskbell.resolvers.common import parse_ids
from taskbell.runtime import Runtime
from taskbell.schema.context import Context
from taskbell.schema.errors import present_errors
from taskbell.schema.types import TaskStatusEvent
from taskbell.services import live
from taskbell.services.users import Identity
from taskbell.web.frames import DirectSocket, text_frame

GROUPED_FIELD = "taskStatusUpdated"
DOCUMENT_CACHE_SIZE = 256


@dataclass(frozen=True)
class GroupKey:
    document: str
    operation_name: str | None
    variables: str
    token_id: int
    scope: tuple[int, ...]


@dataclass
class Plan:
    """A subscription that can join a group: its key and, should it found one, its executor."""

    key: GroupKey
    executor: Executor[Context]
    viewer: Identity


class Member:
    """One subscribed operation on one socket.

    While the socket keeps up, each event is framed and written at once
    (``frames.DirectSocket``), with no task switch. Otherwise messages wait in
    a bounded backlog that the member's own task drains in order; a backlog
    that overflows ends the member (the socket is closed with 4413).
    """

    def __init__(self, head: bytes, socket: DirectSocket | None, limit: int) -> None:
        self._head = head  # the message up to its payload, with the operation id spliced in
        self._socket = socket
        self._limit = limit
        self._backlog: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self.ended: bytes | None = None  # the final payload (an error), if the group ended
        self.overflowed = False

    def message(self, payload: bytes) -> bytes:
        return b"".join((self._head, payload, b"}"))

    def deliver(self, payload: bytes) -> None:
        socket = self._socket
        if socket is not None and not self._backlog and socket.is_writable:
            if socket.is_open:  # a closing socket is torn down by its handler
                socket.write(text_frame(self._head, payload, b"}"))
            return
        if len(self._backlog) >= self._limit:
            self.overflowed = True
        else:
            self._backlog.append(self.message(payload))
        self._ready.set()

    def end(self, payload: bytes) -> None:
        self.ended = payload
        self._ready.set()

    async def relay(
        self, send_text: Callable[[str], Awaitable[None]], stall_seconds: float
    ) -> None:
        """Drain the backlog in order until the group ends or the backlog overflows.

        A message leaves the backlog only once written, so ``deliver`` never
        overtakes it. Raises ``TimeoutError`` when the socket stays blocked.
        """
        socket = self._socket
        while not self.overflowed:
            while self._backlog:
                if socket is None:
                    await send_text(self._backlog[0].decode())
                else:
                    async with asyncio.timeout(stall_seconds):
                        await socket.wait_writable()
                    if not socket.is_open:
                        return
                    socket.write(text_frame(self._backlog[0]))
                self._backlog.popleft()
            if self.ended is not None:
                return
            self._ready.clear()
            await self._ready.wait()


@dataclass
class Group:
    key: GroupKey
    members: set[Member] = field(default_factory=set)
    runner: asyncio.Task[None] | None = None


class Groups:
    """The process's groups; a group's stream lives while it has members."""

    def __init__(self, schema: BaseSchema, rt: Runtime) -> None:
        self._schema = schema
        self._rt = rt
        self._groups: dict[GroupKey, Group] = {}
        self._documents: dict[str, DocumentNode | None] = {}
        settings = rt.settings
        self._rules: list[type[ASTValidationRule]] = [
            *specified_rules,
            *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        ]

    async def plan(self, viewer: Identity, payload: dict[str, Any]) -> Plan | None:
        """A group key for this subscribe message, or None to take the ordinary path.

        Anything doubtful (invalid document, other fields, a resume, a refusal)
        returns None: the ordinary path then answers exactly as it always does.
        """
        query, variables = payload.get("query"), payload.get("variables") or {}
        operation_name = payload.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, dict):
            return None
        document = self._checked_document(query)
        graphql_schema = self._schema._schema  # type: ignore[attr-defined]
        if document is None:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.SUBSCRIPTION:
            return None
        selections = operation.selection_set.selections
        root = selections[0] if len(selections) == 1 else None
        if not isinstance(root, FieldNode) or root.name.value != GROUPED_FIELD or root.directives:
            return None
        context = Context(self._rt, viewer, f"group-{uuid.uuid4().hex[:8]}")
        executor = Executor.build(
            graphql_schema,
            document,
            context_value=context,
            raw_variable_values=variables,
            operation_name=operation_name,
        )
        if not isinstance(executor, Executor):
            return None
        field_def = graphql_schema.subscription_type.fields[GROUPED_FIELD]
        arguments = get_argument_values(field_def, root, executor.variable_values)
        if arguments.get("after") is not None:
            return None
        try:
            project_ids = parse_ids(arguments.get("projectIds"), "projectIds")
            scope, _ = await live.authorize(self._rt, viewer, project_ids, None)
        except DomainError:
            return None
        key = GroupKey(
            document=query,
            operation_name=operation_name,
            variables=json.dumps(variables, sort_keys=True),
            token_id=viewer.token_id,
            scope=tuple(scope),
        )
        return Plan(key=key, executor=executor, viewer=viewer)

    def _checked_document(self, query: str) -> DocumentNode | None:
        """The parsed document if it is valid (depth and alias limits included); cached."""
        if query in self._documents:
            return self._documents[query]
        try:
            document: DocumentNode | None = parse(query, max_tokens=self._rt.settings.max_tokens)
        except GraphQLError:
            document = None
        graphql_schema = self._schema._schema  # type: ignore[attr-defined]
        if document is not None and validate(graphql_schema, document, self._rules):
            document = None
        if len(self._documents) >= DOCUMENT_CACHE_SIZE:
            self._documents.pop(next(iter(self._documents)))
        self._documents[query] = document
        return document

    @contextlib.asynccontextmanager
    async def member(
        self, plan: Plan, head: bytes, socket: DirectSocket | None
    ) -> AsyncGenerator[Member, None]:
        """Join (or found) the plan's group for the duration of the block."""
        member = Member(head, socket, self._rt.settings.subscription_buffer)
        group = self._groups.get(plan.key)
        if group is None:
            group = self._groups[plan.key] = Group(plan.key)
            group.runner = asyncio.create_task(self._run(group, plan))
        group.members.add(member)
        presence_key = self._rt.presence.subscription_started(plan.viewer.user.id, plan.key.scope)
        try:
            yield member
        finally:
            self._rt.presence.subscription_ended(presence_key)
            group.members.discard(member)
            if not group.members and self._groups.get(plan.key) is group:
                del self._groups[plan.key]
                if group.runner is not None:
                    group.runner.cancel()

    async def _run(self, group: Group, plan: Plan) -> None:
        """Feed the group: one stream, one execution and one encoding per event."""
        stream = live.task_status_events(
            self._rt, plan.viewer, list(plan.key.scope), None, subscribers=None
        )
        context: Context = plan.executor.context_value
        try:
            async with contextlib.aclosing(stream):
                async for change, cursor in stream:
                    context.fresh_loaders()
                    event = TaskStatusEvent.from_event(change, cursor)
                    result = execute_subscription_event(
                        plan.executor.build_per_event_executor(event)
                    )
                    if isinstance(result, Awaitable):
                        result = await result
                    payload = _encode(result.data, result.errors, context.request_id)
                    self._rt.metrics.events_delivered.inc(len(group.members))
                    for member in list(group.members):
                        member.deliver(payload)
        except Exception as error:  # the stream ended: revoked access, or a failure
            payload = _encode(None, [_as_graphql_error(error)], context.request_id)
            for member in list(group.members):
                member.end(payload)
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]


def _as_graphql_error(error: Exception) -> GraphQLError:
    message = error.message if isinstance(error, DomainError) else str(error)
    return GraphQLError(message, original_error=error)


def _encode(data: Any, errors: list[GraphQLError] | None, request_id: str) -> bytes:
    body: dict[str, Any] = {"data": data}
    if errors:
        body["errors"] = [e.formatted for e in present_errors(errors, request_id)]
    return json.dumps(body, separators=(",", ":")).encode()


def transport_ws_head(operation_id: str) -> bytes:
    """``next`` for graphql-transport-ws, up to the payload spliced in after it."""
    return ('{"id":' + json.dumps(operation_id) + ',"type":"next","payload":').encode()


def legacy_ws_head(operation_id: str) -> bytes:
    """``data`` for the legacy graphql-ws protocol."""
    return ('{"type":"data","id":' + json.dumps(operation_id) + ',"payload":').encode()
