"""Grouped subscriptions: one stream, one execution and one encoding per event per group.

Every subscription the core serves, on every transport, is a member of a group.
Subscriptions with the same document, variables (but the resume cursor), field
and scope receive identical payloads, whoever holds them, so they share one
``streams.ordered`` stream: each event is executed once through graphql-core
against the Strawberry schema and encoded once, and the same bytes go to every
member through its connection's ``Output`` with only the transport's framing
around them (a group of one is the ordinary case).

Access is each member's own: it is checked when the subscription is planned, a
revocation on the member's user channel ends that member alone, its token's
expiry ends it on time, and whenever the group's stream sees that access may
have changed it re-checks all members at once. A resuming member catches up
from the log on its own, at the pace its connection allows, and then hands over
to the group at a position with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from graphql.execution import Executor
from graphql.validation import ASTValidationRule
from strawberry.schema import BaseSchema

from taskbell import events
from taskbell.cursors import Positions, encode_cursor
from taskbell.errors import DomainError, Unauthenticated
from taskbell.realtime import execution, streams
from taskbell.realtime.output import Output
from taskbell.runtime import Runtime
from taskbell.schema.context import Context
from taskbell.services.users import Identity

TOKEN_EXPIRED = "Your token has expired; sign in again."
A_TOKEN_IS_REQUIRED = "A valid bearer token is required."


@dataclass(frozen=True)
class Scope:
    """What an authorized subscription covers, and where it resumes."""

    keys: tuple[int, ...]
    resume_from: Positions | None
    # Projects whose membership the core keeps checking for every member.
    vouched_projects: frozenset[int] = frozenset()


class LiveField(Protocol):
    """A subscription field the core serves (``resolvers.realtime`` defines them)."""

    @property
    def name(self) -> str: ...

    def source(self, rt: Runtime) -> streams.Source[Any]: ...

    async def authorize(
        self, rt: Runtime, identity: Identity, arguments: dict[str, Any]
    ) -> Scope: ...

    def root(self, item: Any, cursor: str) -> object:
        """The schema object the field's selection is executed on."""


class Subscriber(Protocol):
    """One subscribed operation on one connection: the transport's side of a member."""

    @property
    def output(self) -> Output: ...

    @property
    def message_key(self) -> bytes:
        """Subscribers with equal keys wrap an equal payload and cursor in equal bytes."""

    def next_message(self, payload: bytes, cursor: str) -> bytes:
        """The transport's ``next`` message around an execution result."""


@dataclass(frozen=True)
class GroupKey:
    """What makes two subscriptions' payloads identical (a resume cursor does not)."""

    document: str
    operation_name: str | None
    variables: str
    field: str
    scope: tuple[int, ...]


@dataclass
class Plan:
    """A subscription ready to join its group."""

    key: GroupKey
    field: LiveField
    source: streams.Source[Any]
    executor: Executor[Context]
    identity: Identity
    scope: Scope

    @property
    def request_id(self) -> str:
        context: Context = self.executor.context_value
        return context.request_id


@dataclass(frozen=True)
class Refused:
    """A subscription refused when it was planned (its error is the transport's to send)."""

    error: DomainError
    request_id: str

    @property
    def payload(self) -> bytes:
        return execution.error_payload(self.error, self.request_id)


@dataclass(frozen=True)
class Delivery:
    """One event as the group delivered it, kept while a resuming member catches up.

    ``frames``: its ``next`` message framed for the wire, once per kind of
    subscriber and transport (most members of a group share one).
    """

    payload: bytes
    item: Any
    cursor: str
    frames: dict[tuple[type, bytes], bytes] = field(default_factory=dict, compare=False)


class Member:
    """One subscribed operation in a group."""

    def __init__(self, plan: Plan, subscriber: Subscriber, handover_limit: int) -> None:
        self.plan = plan
        self.identity = plan.identity
        self._subscriber = subscriber
        self._output = subscriber.output
        self._framing = (self._output.framing, subscriber.message_key)
        resuming = plan.scope.resume_from is not None
        self._handover: deque[Delivery] | None = deque() if resuming else None
        self._handover_limit = handover_limit
        # A bare future, not an Event: every member waits on one for as long as it lives,
        # and an Event's waiter deque costs ~600 bytes more per subscription.
        self._wake: asyncio.Future[None] | None = None
        self.error: BaseException | None = None

    @property
    def ended(self) -> bool:
        return self.error is not None or self._output.closed

    @property
    def error_payload(self) -> bytes | None:
        """The final execution result to send (its code, masked when unexpected)."""
        if self.error is None:
            return None
        return execution.error_payload(self.error, self.plan.request_id)

    def send(self, payload: bytes, cursor: str) -> None:
        self._output.send(self._subscriber.next_message(payload, cursor))

    def deliver(self, delivery: Delivery) -> None:
        """The group's event: straight to the connection, or kept while catching up."""
        if self.ended:
            return
        if self._handover is None:
            frame = delivery.frames.get(self._framing)
            if frame is None:
                message = self._subscriber.next_message(delivery.payload, delivery.cursor)
                frame = delivery.frames[self._framing] = self._output.frame(message)
            self._output.send_framed(frame)
            return
        if len(self._handover) >= self._handover_limit:
            self._output.fail_slow()  # it cannot catch up with the group
        else:
            self._handover.append(delivery)
        self.wake()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            self.wake()

    def wake(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def until_woken(self) -> None:
        """Wait for the next ``wake`` (one before this call is not counted)."""
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await self._wake
        finally:
            self._wake = None

    async def handed_over(self) -> Delivery | None:
        """The next delivery kept during catch-up; None once the member has ended."""
        assert self._handover is not None
        while not self.ended:
            if self._handover:
                return self._handover.popleft()
            await self.until_woken()
        return None

    def go_live(self) -> None:
        """Caught up: what the group delivered meanwhile, then the group's bytes from now on,
        go straight to the connection (deliveries kept behind the matching one are the
        member's next events exactly: dropping them would leave a gap)."""
        kept, self._handover = self._handover, None
        for delivery in kept or ():
            self.send(delivery.payload, delivery.cursor)


@dataclass(eq=False)
class Group:
    key: GroupKey
    members: set[Member] = field(default_factory=set)
    listening: bool = False
    runner: asyncio.Task[None] | None = None
    # Ephemeral feeds (presence): the current state's payload per key, by position, so
    # members joining at the same position share one execution of it.
    states: dict[int, tuple[int, bytes]] = field(default_factory=dict)

    def started_listening(self) -> None:
        self.listening = True
        for member in self.members:
            member.wake()


class Groups:
    """The process's groups; a group's stream lives while it has members."""

    def __init__(
        self,
        schema: BaseSchema,
        rt: Runtime,
        fields: Collection[LiveField],
        rules: list[type[ASTValidationRule]],
    ) -> None:
        self._rt = rt
        self._fields = {live.name: live for live in fields}
        self._documents = execution.Documents(schema, rules, rt.settings.max_tokens)
        self._groups: dict[GroupKey, Group] = {}
        self._rechecks: set[asyncio.Task[None]] = set()

    @property
    def groups(self) -> list[Group]:
        return list(self._groups.values())

    async def plan(
        self,
        identity: Identity | None,
        payload: dict[str, Any],
        request_id: str | None = None,
        resume: str | None = None,
    ) -> Plan | Refused | None:
        """Plan a subscribe request; None when it is not a valid subscription the core serves
        (the transport's ordinary path then answers it, with its validation errors).

        ``resume`` (graphql-sse's ``Last-Event-ID``) replaces the ``after`` argument.
        """
        query, variables = payload.get("query"), payload.get("variables") or {}
        operation_name = payload.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, dict):
            return None
        if operation_name is not None and not isinstance(operation_name, str):
            return None
        request_id = request_id or f"sub-{uuid.uuid4().hex[:12]}"
        context = Context(self._rt, identity, request_id)
        prepared = self._documents.prepare(query, variables, operation_name, context)
        if prepared is None or prepared.field not in self._fields:
            return None
        if identity is None:
            return Refused(Unauthenticated(A_TOKEN_IS_REQUIRED), request_id)
        live = self._fields[prepared.field]
        arguments = dict(prepared.arguments)
        if resume is not None:
            arguments["after"] = resume
        try:
            scope = await live.authorize(self._rt, identity, arguments)
        except DomainError as error:
            return Refused(error, request_id)
        # Every member belongs to the whole scope (checked now, re-checked while it
        # lasts), so what members see does not depend on who founded the group.
        context.vouched_projects = scope.vouched_projects
        shared = {k: v for k, v in variables.items() if k != prepared.cursor_variable}
        key = GroupKey(
            document=query,
            operation_name=operation_name,
            variables=json.dumps(shared, sort_keys=True, default=str),
            field=live.name,
            scope=scope.keys,
        )
        group = self._groups.get(key)
        if group is not None:
            key = group.key  # equal; its strings are shared, not kept once per socket
        return Plan(key, live, live.source(self._rt), prepared.executor, identity, scope)

    async def serve(self, plan: Plan, subscriber: Subscriber) -> Member:
        """Deliver the plan's events to ``subscriber`` until the member ends.

        Returns the member: with ``error`` set when the core ended it (the
        transport sends ``error_payload``, then completes); otherwise its
        connection's output closed (overflow, or the peer left).
        """
        member = Member(plan, subscriber, self._rt.settings.subscription_buffer)
        async with self._joined(plan, member) as group:
            while not group.listening and not member.ended:
                await member.until_woken()
            if member.ended:
                return member
            counted = self._rt.stats.subscription_started(plan.identity.user.id, plan.key.scope)
            try:
                if plan.scope.resume_from is not None:
                    await self._catch_up(member, plan.scope.resume_from)
                while not member.ended:
                    await member.until_woken()
            finally:
                self._rt.stats.subscription_ended(counted)
        return member

    @contextlib.asynccontextmanager
    async def _joined(self, plan: Plan, member: Member) -> AsyncIterator[Group]:
        """Be a member of the plan's group, watching the member's own user channel."""
        rt = self._rt
        group = self._groups.get(plan.key)
        if group is None:
            group = self._groups[plan.key] = Group(plan.key)
            group.runner = asyncio.create_task(self._run(group, plan))
        group.members.add(member)
        expiry = _expire_at(plan.identity.expires_at, member)
        own_channel = [events.user_channel(rt.channel_prefix, plan.identity.user.id)]
        try:
            async with rt.hub.watch(own_channel, _Watch(self, group, member)):
                yield group
        finally:
            if expiry is not None:
                expiry.cancel()
            group.members.discard(member)
            if not group.members and self._groups.get(plan.key) is group:
                del self._groups[plan.key]
                if group.runner is not None:
                    group.runner.cancel()

    async def _run(self, group: Group, plan: Plan) -> None:
        """Feed the group: one stream, one execution and one encoding per event."""
        source = plan.source
        keys = list(group.key.scope)
        if isinstance(source, streams.Ephemeral):  # presence: members catch up to its state
            stream = source.follow(keys, group.started_listening)
        else:
            audience = _GroupAudience(self, group, source)
            listening = group.started_listening
            stream = streams.ordered(self._rt, source, audience, keys, None, listening=listening)
        try:
            async with contextlib.aclosing(stream):
                async for item, cursor in stream:
                    delivery = Delivery(await _execute(plan, item, cursor), item, cursor)
                    self._rt.metrics.events_delivered.inc(len(group.members))
                    for member in list(group.members):
                        member.deliver(delivery)
        except Exception as error:  # the stream failed: every member ends with it
            for member in list(group.members):
                member.fail(error)
        finally:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]

    async def _catch_up(self, member: Member, resume_from: Positions) -> None:
        """Bring a resuming member up to its group, with no gap and no duplicate.

        The member joined the group before this reads the log, so everything
        committed later is in its handover buffer too. Log events, then those
        deliveries, are executed for this member alone, with its own cursor,
        until a delivery's cursor equals the member's: from there on the group's
        bytes are exactly what the member would have been sent. Replay waits for
        room in the connection's output, so a long catch-up never overflows it.
        """
        plan, rt, output = member.plan, self._rt, member._output
        source = plan.source
        kind = source.cursor_kind
        positions = await streams.resume_positions(source, list(plan.key.scope), resume_from)
        group = self._groups.get(plan.key) if isinstance(source, streams.Ephemeral) else None
        while not member.ended:
            async for item in streams.catch_up(rt, source, positions):
                cursor = encode_cursor(positions, kind)
                payload = await _replayed(plan, item, cursor, group)
                await output.room()
                member.send(payload, cursor)
            while (delivery := await member.handed_over()) is not None:
                item = delivery.item
                head = positions[item.stream_key]
                if item.position <= head:
                    continue  # replayed from the log already
                if item.position > head + 1:
                    break  # a gap (cannot happen while the group is gap-free): re-read the log
                positions[item.stream_key] = item.position
                cursor = encode_cursor(positions, kind)
                if cursor == delivery.cursor:
                    member.send(delivery.payload, cursor)
                    member.go_live()
                    return
                member.send(await _execute(plan, item, cursor), cursor)
            else:
                return  # the member ended

    def _recheck_soon(
        self, group: Group, source: streams.Source[Any], members: list[Member]
    ) -> None:
        task = asyncio.create_task(self._recheck(group, source, members))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def _recheck(
        self, group: Group, source: streams.Source[Any], members: list[Member]
    ) -> None:
        """End the members whose token or access no longer covers the group's scope."""
        errors = await source.access_errors([m.identity for m in members], group.key.scope)
        for member in members:
            error = errors.get(member.identity.token_id)
            if error is not None:
                member.fail(error)


@dataclass(eq=False)
class _GroupAudience:
    """A group's stream re-checks every member at once."""

    groups: Groups
    group: Group
    source: streams.Source[Any]

    def channels(self) -> list[str]:
        return []  # each member watches its own user channel (_Watch)

    def check(self, message: events.Message) -> None:
        pass

    async def recheck(self) -> None:
        await self.groups._recheck(self.group, self.source, list(self.group.members))


@dataclass(eq=False)
class _Watch:
    """A member's own user channel: a revocation ends the member, a resync re-checks it."""

    groups: Groups
    group: Group
    member: Member

    def offer(self, message: events.Message) -> None:
        if not isinstance(message, events.CONTROL):
            return  # a notification: one per recipient per change, and none of its business
        source = self.member.plan.source
        error = source.revocation(message, self.member.identity, self.group.key.scope)
        if error is not None:
            self.member.fail(error)
        elif isinstance(message, events.Resync):
            self.groups._recheck_soon(self.group, source, [self.member])

    def fail(self, error: BaseException) -> None:
        self.member.fail(error)


async def follow(
    rt: Runtime,
    live: LiveField,
    identity: Identity,
    arguments: dict[str, Any],
    listening: Callable[[], None] | None = None,
) -> AsyncGenerator[tuple[Any, str], None]:
    """One subscriber's ordered stream, for a caller of ``schema.subscribe``.

    Authorizes when awaited (a refusal is a subscribe-time error). The
    transports never come here (they serve every subscription as a group
    member); it is the same ``streams.ordered``, re-checking the one identity.
    """
    scope = await live.authorize(rt, identity, arguments)
    source = live.source(rt)
    if isinstance(source, streams.Ephemeral):
        return source.follow(list(scope.keys), listening, snapshot=True)
    own_channel = events.user_channel(rt.channel_prefix, identity.user.id)
    audience = _Alone(source, identity, scope.keys, own_channel)
    return streams.ordered(
        rt, source, audience, list(scope.keys), scope.resume_from, listening=listening
    )


@dataclass(frozen=True)
class _Alone:
    """The audience of one stream outside any group."""

    source: streams.Source[Any]
    identity: Identity
    keys: tuple[int, ...]
    own_channel: str

    def channels(self) -> list[str]:
        return [self.own_channel]

    def check(self, message: events.Message) -> None:
        error = self.source.revocation(message, self.identity, self.keys)
        if error is not None:
            raise error

    async def recheck(self) -> None:
        errors = await self.source.access_errors([self.identity], self.keys)
        if errors:
            raise errors[self.identity.token_id]


def _expire_at(expires_at: datetime | None, member: Member) -> asyncio.TimerHandle | None:
    """End the member when its credential expires (a bad token from then on)."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    delay = max(0.0, (expires_at - datetime.now(UTC)).total_seconds())
    loop = asyncio.get_running_loop()
    return loop.call_later(delay, member.fail, Unauthenticated(TOKEN_EXPIRED))


async def _replayed(plan: Plan, item: Any, cursor: str, group: Group | None) -> bytes:
    """A catch-up item's payload; an ephemeral feed's state (whose payload carries no
    cursor) is executed once per position for the whole group."""
    if group is None:
        return await _execute(plan, item, cursor)
    kept = group.states.get(item.stream_key)
    if kept is not None and kept[0] == item.position:
        return kept[1]
    payload = await _execute(plan, item, cursor)
    group.states[item.stream_key] = (item.position, payload)
    return payload


async def _execute(plan: Plan, item: Any, cursor: str) -> bytes:
    """Execute the plan's selection on one event, with fresh loaders, and encode it."""
    plan.executor.context_value.fresh_loaders()
    return await execution.run(plan.executor, plan.field.root(item, cursor), plan.request_id)
