"""examples/apollo: Apollo Client against a real server, over either link.

`ws`: GraphQLWsLink for the subscription, HttpLink for the rest (ApolloLink.split).
`http`: HttpLink alone, so the subscription travels as multipart HTTP and no WebSocket opens.
"""

from __future__ import annotations

import pytest

from tests.support.node_examples import run_example

from .support import Stack, Team


@pytest.mark.parametrize("link", ["ws", "http"])
async def test_apollo_cache_follows_a_change_made_by_another_user(
    stack: Stack, team: Team, link: str
) -> None:
    """Bob's Apollo client gets Alice's change and its cached Task updates, on either link."""
    result = await run_example(
        "apollo",
        "check.mjs",
        {
            "TASKBELL_URL": stack.base_url,
            "SUBSCRIBER_TOKEN": team.member.token,
            "WRITER_TOKEN": team.owner.token,
            "TASK_ID": team.task.id,
            "NEW_STATUS": "IN_REVIEW",
            "LINK": link,
        },
    )

    assert result["link"] == link
    assert result["before"]["status"] == "TODO"
    assert result["event"]["message"] == (
        f"{team.owner.name} changed task '{team.task.title}' from 'To Do' to 'In Review'"
    )
    assert result["cached"] == {"__typename": "Task", "status": "IN_REVIEW", "version": 2}
    if link == "http":
        # The one streamed request (the subscription) was answered as Apollo's multipart.
        [content_type] = result["streamedAs"]
        assert content_type.startswith("multipart/mixed")
        assert 'subscriptionSpec="1.0"' in content_type
    else:
        assert "streamedAs" not in result
