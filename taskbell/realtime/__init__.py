"""The realtime core: ordered, resumable, grouped event streams, and the broker.

Every transport (``web.protocols``: graphql-transport-ws and legacy graphql-ws;
``web.streams``: graphql-sse and multipart) adapts to this package through its
entry points: ``groups.Groups.plan`` and ``groups.Groups.serve``, each
connection's ``output.Output``, ``hub.Hub`` for publishing after commit, and
``presence.Presence.connection_opened``/``connection_closed`` once a connection listens.

| guarantee | kept by | proved by |
| --- | --- | --- |
| nothing is published before commit | ``services.tasks.update_task_status`` publishes after its transaction | ``tests/integration/test_task_status.py`` |
| commit order per project / per recipient | positions taken under the project's (recipient's) row lock: ``services.tasks`` | ``tests/e2e/test_transports.py::test_notifications_of_two_projects_arrive_complete_in_commit_order`` |
| no gap, no duplicate, resume from a cursor | ``streams.ordered`` (listen before reading the log, drop what was delivered, re-read on a gap or ``Resync``) | ``tests/e2e/test_resume.py``, ``tests/integration/test_live.py`` (every transport) |
| a resuming member joins its group at a position | ``groups.Groups._catch_up`` (handover buffer, cursor equality) | ``tests/integration/test_grouping.py`` |
| one execution and one encoding per event per group | ``groups.Groups._run`` | ``tests/integration/test_grouping.py`` |
| access re-checked when it may have changed | ``streams.ordered`` → ``Audience.recheck``; ``groups._Watch`` (revocations), ``groups._expire_at`` (token expiry) | ``tests/integration/test_live.py``, ``tests/e2e/test_transports.py::test_logout_ends_live_subscriptions_on_every_transport``, ``tests/e2e/test_token_expiry.py`` |
| broker outages lose nothing | ``hub.Hub.publish_many`` (mark and ``Resync``), ``broker`` (reconnect, resync) | ``tests/system/test_delivery.py``, ``tests/integration/test_publish_many.py`` |
| presence: online while any connection listens, on any process; tabs are one member; a reconnect within the grace is no change | ``presence.Presence`` (per-user counts, grace timers), ``presence_view.ClusterView`` (each process's record, replaced whole) | ``tests/system/test_presence.py`` (Redis and postgres://) |
| a dead process's members leave within 30 s, its editing marks lapse | ``presence_view.ClusterView.prune`` (4 missed heartbeats; marks travel as time left) | ``tests/system/test_presence.py::test_members_of_a_sigkilled_process_leave_within_30_seconds`` |
| presence diffs: at most one per project per interval, one execution per diff (and per state at a position) per group; not durable (no cursor to resume: each subscription starts from the current state) | ``presence.Presence._diff_pass``, ``streams.Ephemeral`` through ``groups.Groups._run`` and ``_catch_up`` | ``tests/system/test_presence.py::test_twenty_connects_within_a_fifth_of_a_second_make_one_diff``, ``tests/e2e/test_presence.py`` (every transport) |
| presence costs the broker one publish round trip per change window or heartbeat per process, never one per connection | ``presence.Presence._publish`` (``hub.Hub.publish_many``: one pipeline / one executemany) | ``bench`` S7 |
| slow clients bounded in bytes and time, others never slowed | ``output.Output`` (the one overflow rule) | ``tests/system/test_limits.py`` |

The overflow rule, on every path: a connection's output holds at most
``TASKBELL_CLIENT_BUFFER_BYTES`` waiting to be written, and no write may stay
blocked for ``TASKBELL_SEND_TIMEOUT_SECONDS``; past either, what it held is
dropped and the connection is closed (4413 on WebSockets, the end of the stream
on HTTP). A subscription's broker inbox is bounded in messages and overflows
into a ``Resync`` (a re-read of the log), which loses nothing.
"""
