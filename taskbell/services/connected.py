"""Who is connected right now: Web Push goes only to members with no live connection."""

from __future__ import annotations

from collections.abc import Collection

from taskbell.runtime import Runtime


async def connected_members(rt: Runtime, user_ids: Collection[int]) -> set[int]:
    """Those of ``user_ids`` holding an authenticated live connection (a WebSocket after
    connection_ack, or an open HTTP subscription stream) on any process at this moment.

    Cluster-wide presence (``taskbell.realtime.presence``) answers; a member in the
    grace after their last connection closed counts as NOT connected (CONTRACT.md).
    """
    return {user_id for user_id in user_ids if rt.presence.connected(user_id)}
