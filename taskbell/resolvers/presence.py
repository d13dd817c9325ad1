"""Presence: the ``presenceChanged`` live field and ``setEditing``."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import strawberry

from taskbell.realtime import groups, streams
from taskbell.realtime.presence import PresenceChange
from taskbell.resolvers.common import parse_id, parse_ids
from taskbell.resolvers.realtime import follow_field
from taskbell.runtime import Runtime
from taskbell.schema.presence import PresenceDiff
from taskbell.schema.types import CtxInfo
from taskbell.services import presence
from taskbell.services.users import Identity


@dataclass(frozen=True)
class PresenceChanged:
    """Grouped like every live field: one execution per diff per group."""

    name: str = "presenceChanged"

    def source(self, rt: Runtime) -> streams.Source[Any]:
        return presence.PresenceFeed(rt)

    async def authorize(
        self, rt: Runtime, identity: Identity, arguments: dict[str, Any]
    ) -> groups.Scope:
        project_ids = parse_ids(arguments.get("projectIds"), "projectIds")
        scope = await presence.authorize(rt, identity, project_ids)
        # "From nobody": every member catches up from position 0 to the current state.
        return groups.Scope(tuple(scope), dict.fromkeys(scope, 0), frozenset(scope))

    def root(self, item: PresenceChange, cursor: str) -> PresenceDiff:
        return PresenceDiff.from_change(item)


PRESENCE_CHANGED = PresenceChanged()


async def presence_changed(
    info: CtxInfo, project_ids: list[strawberry.ID] | None = None
) -> AsyncGenerator[PresenceDiff, None]:
    return await follow_field(info, PRESENCE_CHANGED, {"projectIds": project_ids})  # type: ignore[return-value]


async def set_editing(info: CtxInfo, task_id: strawberry.ID, editing: bool) -> bool:
    identity = info.context.require_identity()
    return await presence.set_editing(
        info.context.rt, identity, parse_id(task_id, "taskId"), editing
    )
