"""Who is connected right now: Web Push goes only to members with no live connection."""

from __future__ import annotations

from collections.abc import Collection

from taskbell.runtime import Runtime


async def connected_members(rt: Runtime, user_ids: Collection[int]) -> set[int]:
    """Those of ``user_ids`` holding an authenticated live connection (a WebSocket after
    connection_ack, or an open HTTP subscription stream) at this moment.

    This branch knows this process's connections only (``rt.stats``): with several
    processes, a member connected to another one is taken for absent and gets a push.
    At merge this switches to the cluster-wide presence of issue 11 (where a member
    in the grace period after their last connection closed counts as NOT connected,
    as CONTRACT.md says); the one caller, ``push_sender``, stays as it is.
    """
    return rt.stats.connected_users() & set(user_ids)
