"""Grouped subscriptions: one GraphQL execution and one JSON encoding per event per group.

``taskStatusUpdated`` subscriptions with the same document, variables (but
the resume cursor) and project scope receive identical payloads, whoever
holds them, so they form one group: a single stream (``services.live``) feeds
it, each event is executed once through graphql-core against the Strawberry
schema (which stays the one source of truth), encoded once, and the same bytes
go to every member with only its operation id spliced in.

Access is each member's own: it is checked at subscribe time, a revocation on
the member's user channel ends that member alone, and whenever the group's
stream sees that access may have changed it re-checks all members at once. A
resuming member catches up from the log on its own and then hands over to the
group with no gap and no duplicate. A slow socket never holds the group back:
it gets a bounded backlog, and is closed with 4413 when that overflows.
Subscriptions that ask for anything else take Strawberry's ordinary path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationType,
    VariableNode,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import Executor, execute_subscription_event, get_argument_values
from graphql.validation import ASTValidationRule
from strawberry.schema import BaseSchema

from taskbell import events
from taskbell.cursors import Positions, encode_cursor
from taskbell.errors import DomainError
from taskbell.resolvers.common import parse_ids
from taskbell.runtime import Runtime
from taskbell.schema.context import Context
from taskbell.schema.errors import present_errors
from taskbell.schema.root import query_limit_rules
from taskbell.schema.types import TaskStatusEvent
from taskbell.services import live
from taskbell.services.users import Identity
from taskbell.web.frames import DirectSocket, text_frame

GROUPED_FIELD = "taskStatusUpdated"
DOCUMENT_CACHE_SIZE = 256


@dataclass(frozen=True)
class GroupKey:
    """What makes two subscriptions' payloads identical (a resume cursor does not)."""

    document: str
    operation_name: str | None
    variables: str
    scope: tuple[int, ...]


@dataclass
class Plan:
    """A subscription that can join a group: its key, its own executor, where it resumes."""

    key: GroupKey
    executor: Executor[Context]
    viewer: Identity
    resume_from: Positions | None


@dataclass(frozen=True)
class Delivery:
    """One event as the group delivered it, kept while a resuming member catches up."""

    payload: bytes
    change: events.TaskStatusChanged
    cursor: str


class Member:
    """One subscribed operation on one socket.

    While the socket keeps up, each event is framed and written at once
    (``frames.DirectSocket``), with no task switch. Otherwise messages wait in
    a bounded backlog that the member's own task drains in order; a backlog
    that overflows ends the member (the socket is closed with 4413). A member
    that resumes from a cursor first catches up on its own (``replay``) while
    the group's deliveries wait in a bounded handover buffer.
    """

    def __init__(self, plan: Plan, head: bytes, socket: DirectSocket | None, limit: int) -> None:
        self.viewer = plan.viewer
        self.request_id: str = plan.executor.context_value.request_id
        self._head = head  # the message up to its payload, with the operation id spliced in
        self._socket = socket
        self._limit = limit
        self._backlog: deque[bytes] = deque()
        self._handover: deque[Delivery] | None = deque() if plan.resume_from else None
        self._ready = asyncio.Event()
        self.replay: AsyncGenerator[bytes, None] | None = None
        self.ended: bytes | None = None  # the final payload (an error), if the member ended
        self.overflowed = False

    def message(self, payload: bytes) -> bytes:
        return b"".join((self._head, payload, b"}"))

    def deliver(self, delivery: Delivery) -> None:
        if self.ended is not None:
            return
        socket, backlog = self._socket, self._backlog
        if self._handover is None and socket is not None and not backlog and socket.is_writable:
            if socket.is_open:  # a closing socket is torn down by its handler
                socket.write(text_frame(self._head, delivery.payload, b"}"))
            return
        waiting = self._handover if self._handover is not None else backlog
        if len(waiting) >= self._limit:
            self.overflowed = True
        elif self._handover is not None:
            self._handover.append(delivery)
        else:
            backlog.append(self.message(delivery.payload))
        self._ready.set()

    def end(self, payload: bytes) -> None:
        if self.ended is None:
            self.ended = payload
            self._ready.set()

    def fail(self, error: BaseException) -> None:
        """End with ``error`` as the final payload (its code, masked when unexpected)."""
        self.end(_error_payload(error, self.request_id))

    async def handed_over(self) -> Delivery | None:
        """The next delivery kept during catch-up; None once the member has ended."""
        assert self._handover is not None
        while self.ended is None and not self.overflowed:
            if self._handover:
                return self._handover.popleft()
            self._ready.clear()
            await self._ready.wait()
        return None

    def go_live(self, first: bytes) -> None:
        """Caught up: ``first`` goes out next, then the group's shared bytes."""
        self._handover = None
        self._backlog.appendleft(self.message(first))
        self._ready.set()

    async def relay(
        self, send_text: Callable[[str], Awaitable[None]], stall_seconds: float
    ) -> None:
        """Catch up if resuming, then drain the backlog in order until the member ends.

        A message leaves the backlog only once written, so ``deliver`` never
        overtakes it. Raises ``TimeoutError`` when the socket stays blocked.
        """
        if self.replay is not None:
            async with contextlib.aclosing(self.replay) as replay:
                async for message in replay:
                    if not await self._send(message, send_text, stall_seconds):
                        return
        while not self.overflowed:
            while self._backlog:
                if not await self._send(self._backlog[0], send_text, stall_seconds):
                    return
                self._backlog.popleft()
            if self.ended is not None:
                return
            self._ready.clear()
            await self._ready.wait()

    async def _send(
        self, message: bytes, send_text: Callable[[str], Awaitable[None]], stall_seconds: float
    ) -> bool:
        """Write one message; False when the socket is closing."""
        socket = self._socket
        if socket is None:
            await send_text(message.decode())
            return True
        async with asyncio.timeout(stall_seconds):
            await socket.wait_writable()
        if not socket.is_open:
            return False
        socket.write(text_frame(message))
        return True


@dataclass(eq=False)
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
        self._rechecks: set[asyncio.Task[None]] = set()
        self._rules: list[type[ASTValidationRule]] = [
            *specified_rules,
            *query_limit_rules(rt.settings),
        ]

    async def plan(self, viewer: Identity, payload: dict[str, Any]) -> Plan | None:
        """A group key for this subscribe message, or None to take the ordinary path.

        Anything doubtful (invalid document, other fields, a refusal, a bad
        cursor) returns None: the ordinary path then answers exactly as it
        always does.
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
        try:
            project_ids = parse_ids(arguments.get("projectIds"), "projectIds")
            scope, resume_from = await live.authorize(
                self._rt, viewer, project_ids, arguments.get("after")
            )
        except DomainError:
            return None
        # Every member belongs to the whole scope (checked now, re-checked while
        # it lasts), so what members see does not depend on who founded the group.
        context.vouched_projects = frozenset(scope)
        shared_variables = {k: v for k, v in variables.items() if k != _cursor_variable(root)}
        key = GroupKey(
            document=query,
            operation_name=operation_name,
            variables=json.dumps(shared_variables, sort_keys=True),
            scope=tuple(scope),
        )
        return Plan(key=key, executor=executor, viewer=viewer, resume_from=resume_from)

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
        rt = self._rt
        member = Member(plan, head, socket, rt.settings.subscription_buffer)
        group = self._groups.get(plan.key)
        if group is None:
            group = self._groups[plan.key] = Group(plan.key)
            group.runner = asyncio.create_task(self._run(group, plan))
        group.members.add(member)
        if plan.resume_from is not None:
            member.replay = self._catch_up(member, plan, plan.resume_from)
        presence_key = rt.presence.subscription_started(plan.viewer.user.id, plan.key.scope)
        own_channel = [events.user_channel(rt.channel_prefix, plan.viewer.user.id)]
        try:
            async with rt.hub.watch(own_channel, _Watch(self, group, member)):
                yield member
        finally:
            rt.presence.subscription_ended(presence_key)
            group.members.discard(member)
            if not group.members and self._groups.get(plan.key) is group:
                del self._groups[plan.key]
                if group.runner is not None:
                    group.runner.cancel()

    async def _run(self, group: Group, plan: Plan) -> None:
        """Feed the group: one stream, one execution and one encoding per event."""
        scope = list(group.key.scope)
        stream = live.task_status_events(self._rt, _GroupAudience(self, group), scope, None)
        try:
            async with contextlib.aclosing(stream):
                async for change, cursor in stream:
                    delivery = Delivery(await _execute(plan, change, cursor), change, cursor)
                    self._rt.metrics.events_delivered.inc(len(group.members))
                    for member in list(group.members):
                        member.deliver(delivery)
        except Exception as error:  # the stream ended: a failure
            for member in list(group.members):
                member.fail(error)
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]

    async def _catch_up(
        self, member: Member, plan: Plan, resume_from: Positions
    ) -> AsyncGenerator[bytes, None]:
        """Bring a resuming member up to its group, with no gap and no duplicate.

        The member joined the group before this reads the log, so everything
        committed later is in its handover buffer too. Log events, then those
        deliveries, are executed for this member alone, with its own cursor,
        until a delivery's cursor equals the member's: from there on the group's
        bytes are exactly what the member would have been sent.
        """
        rt = self._rt
        positions = await live.resume_positions(rt, list(plan.key.scope), resume_from)
        while True:
            async for change in live.catch_up(rt, positions):
                yield member.message(await _execute(plan, change, encode_cursor(positions)))
            while (delivery := await member.handed_over()) is not None:
                change, head = delivery.change, positions[delivery.change.project_id]
                if change.position <= head:
                    continue  # replayed from the log already
                if change.position > head + 1:
                    break  # a gap (cannot happen while the group is gap-free): re-read the log
                positions[change.project_id] = change.position
                cursor = encode_cursor(positions)
                if cursor == delivery.cursor:
                    member.go_live(delivery.payload)
                    return
                yield member.message(await _execute(plan, change, cursor))
            else:
                return  # the member ended

    def _recheck_soon(self, group: Group, members: list[Member]) -> None:
        task = asyncio.create_task(self._recheck(group, members))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def _recheck(self, group: Group, members: list[Member]) -> None:
        """End the members whose token or membership no longer covers the group's scope."""
        errors = await live.access_errors(
            self._rt, [member.viewer for member in members], list(group.key.scope)
        )
        for member in members:
            error = errors.get(member.viewer.token_id)
            if error is not None:
                member.fail(error)


@dataclass(eq=False)
class _GroupAudience:
    """A group's stream re-checks every member at once; revocations reach each via _Watch."""

    groups: Groups
    group: Group

    def channels(self, prefix: str) -> list[str]:
        return []

    def check(self, message: events.Message, scope: Collection[int]) -> None:
        pass

    async def recheck(self, scope: list[int]) -> None:
        await self.groups._recheck(self.group, list(self.group.members))


@dataclass(eq=False)
class _Watch:
    """A member's own user channel: a revocation ends the member, a resync re-checks it."""

    groups: Groups
    group: Group
    member: Member

    def offer(self, message: events.Message) -> None:
        error = live.revocation_error(message, self.member.viewer, self.group.key.scope)
        if error is not None:
            self.member.fail(error)
        elif isinstance(message, events.Resync):
            self.groups._recheck_soon(self.group, [self.member])

    def fail(self, error: BaseException) -> None:
        self.member.fail(error)


def _cursor_variable(root: FieldNode) -> str | None:
    """The variable that carries ``after``, if any: it differs between members of a group."""
    for argument in root.arguments or ():
        if argument.name.value == "after" and isinstance(argument.value, VariableNode):
            return argument.value.name.value
    return None


async def _execute(plan: Plan, change: events.TaskStatusChanged, cursor: str) -> bytes:
    """Execute the plan's selection on one event and encode the result."""
    executor = plan.executor
    context: Context = executor.context_value
    context.fresh_loaders()
    event = TaskStatusEvent.from_event(change, cursor)
    result = execute_subscription_event(executor.build_per_event_executor(event))
    if isinstance(result, Awaitable):
        result = await result
    return _encode(result.data, result.errors, context.request_id)


def _error_payload(error: BaseException, request_id: str) -> bytes:
    message = error.message if isinstance(error, DomainError) else str(error)
    original = error if isinstance(error, Exception) else None
    return _encode(None, [GraphQLError(message, original_error=original)], request_id)


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
