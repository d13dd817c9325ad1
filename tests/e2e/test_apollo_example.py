"""examples/apollo: Apollo Client (GraphQLWsLink + HttpLink) against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

from tests.conftest import skip_or_fail

from .support import Stack, Team

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apollo"
RUN_SECONDS = 60


async def test_apollo_cache_follows_a_change_made_by_another_user(stack: Stack, team: Team) -> None:
    """Bob's Apollo client gets Alice's change over graphql-ws and its cached Task updates."""
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed (the Apollo example needs Node.js 20+)")
    if not (EXAMPLE / "node_modules").is_dir():
        skip_or_fail("the Apollo example is not installed (npm ci --prefix examples/apollo)")
    env = {
        **os.environ,
        "TASKBELL_URL": stack.base_url,
        "SUBSCRIBER_TOKEN": team.member.token,
        "WRITER_TOKEN": team.owner.token,
        "TASK_ID": team.task.id,
        "NEW_STATUS": "IN_REVIEW",
    }
    process = await asyncio.create_subprocess_exec(
        node, "check.mjs", cwd=EXAMPLE, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_SECONDS)
    assert process.returncode == 0, stderr.decode()

    result = json.loads(stdout)
    assert result["before"]["status"] == "TODO"
    assert result["event"]["message"] == (
        f"{team.owner.name} changed task '{team.task.title}' from 'To Do' to 'In Review'"
    )
    assert result["cached"] == {"__typename": "Task", "status": "IN_REVIEW", "version": 2}
