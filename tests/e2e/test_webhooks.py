"""Outgoing webhooks end to end: a real server signs and POSTs to a real receiver, which
verifies every signature with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import RequireService
from tests.support.webhook_receiver import Receiver

from .support import STACKS, Api, ApiFactory, Stack, Team, stack_server, status_message

# Quick retries that outlast a server restart (about 20 s in all).
RETRY_SCHEDULE = "[0.3, 0.5" + ", 1" * 20 + "]"
CREATE = """mutation ($p: ID!, $url: String!) {
  createWebhook(projectId: $p, url: $url) { id url secret enabled createdAt project { id } }
}"""
WEBHOOKS = """query ($p: ID!) {
  webhooks(projectId: $p) {
    id url secret enabled
    deliveries(first: 10) {
      id eventType attempts lastStatusCode deliveredAt nextAttemptAt failed
    }
  }
}"""
DELETE = "mutation ($id: ID!) { deleteWebhook(id: $id) }"


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=STACKS)
async def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    require_service: RequireService,
) -> AsyncIterator[Stack]:
    """This module's own server: it may reach 127.0.0.1 and retries within seconds."""
    name: str = request.param
    workdir = tmp_path_factory.mktemp(f"webhooks-{name}")
    async with stack_server(
        name,
        workdir,
        require_service,
        allow_private_destinations="true",
        webhook_retry_schedule=RETRY_SCHEDULE,
        outbox_poll_seconds="0.1",
    ) as started:
        yield started


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooks = Receiver()
    await hooks.start()
    try:
        yield hooks
    finally:
        await hooks.stop()


async def create_webhook(as_user: Api, project_id: str, url: str) -> dict[str, Any]:
    hook: dict[str, Any] = (await as_user.execute(CREATE, p=project_id, url=url)).ok()[
        "createWebhook"
    ]
    return hook


async def webhooks(as_user: Api, project_id: str) -> dict[str, dict[str, Any]]:
    """The project's endpoints by url."""
    data = (await as_user.execute(WEBHOOKS, p=project_id)).ok()
    return {hook["url"]: hook for hook in data["webhooks"]}


async def webhooks_when(
    as_user: Api,
    project_id: str,
    accept: Callable[[dict[str, dict[str, Any]]], bool],
    seconds: float = 10,
) -> dict[str, dict[str, Any]]:
    """Poll the webhooks query until `accept` holds."""
    deadline = time.monotonic() + seconds
    hooks = await webhooks(as_user, project_id)
    while not accept(hooks):
        assert time.monotonic() < deadline, f"webhooks never got there: {hooks}"
        await asyncio.sleep(0.1)
        hooks = await webhooks(as_user, project_id)
    return hooks


def delivered(hook: dict[str, Any], count: int) -> bool:
    done = [d for d in hook["deliveries"] if d["deliveredAt"] is not None]
    return len(done) == count


async def test_a_failed_delivery_is_retried_with_the_same_id_until_it_succeeds(
    api: ApiFactory, team: Team, receiver: Receiver
) -> None:
    """500, then 200: two signed attempts with one webhook-id, one success, as deliveries say."""
    owner = api(team.owner.token)
    hook = await create_webhook(owner, team.project_id, receiver.url("retry"))
    assert hook["secret"].startswith("whsec_")
    assert (hook["enabled"], hook["project"]["id"]) == (True, team.project_id)
    receiver.expect("retry", hook["secret"], 500)

    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await receiver.wait_for(lambda r: len(r.at("retry")) == 2)
    hooks = await webhooks_when(owner, team.project_id, lambda h: delivered(h[hook["url"]], 1))

    first, second = receiver.at("retry")
    assert (first.answered, second.answered) == (500, 200)
    assert (first.verified, second.verified) == (True, True)
    assert first.webhook_id == second.webhook_id
    assert first.body == second.body
    assert first.content_type == "application/json"
    listed = hooks[hook["url"]]
    assert listed["secret"] is None
    [delivery] = listed["deliveries"]
    assert delivery == {
        **delivery,
        "id": first.webhook_id,
        "eventType": "task.status_changed",
        "attempts": 2,
        "lastStatusCode": 200,
        "nextAttemptAt": None,
        "failed": False,
    }


async def test_the_body_describes_the_change_as_the_contract_says(
    api: ApiFactory, team: Team, receiver: Receiver
) -> None:
    """type, timestamp and data with the task, project, statuses, version, message and actor."""
    owner = api(team.owner.token)
    hook = await create_webhook(owner, team.project_id, receiver.url("body"))
    receiver.expect("body", hook["secret"])
    (await owner.update_status(team.task, "IN_REVIEW")).ok()
    await receiver.wait_for(lambda r: len(r.at("body")) == 1)
    [got] = receiver.at("body")
    data = got.body["data"]
    assert got.body["type"] == "task.status_changed"
    assert got.body["timestamp"] == data["occurredAt"]
    assert data == {
        **data,
        "taskId": team.task.id,
        "taskTitle": team.task.title,
        "projectId": team.project_id,
        "projectName": team.project_name,
        "oldStatus": "TODO",
        "newStatus": "IN_REVIEW",
        "version": 2,
        "message": status_message(team.owner, team.task, "TODO", "IN_REVIEW"),
        "updatedBy": {"id": team.owner.id, "name": team.owner.name},
    }


async def test_gone_disables_the_endpoint_and_nothing_more_is_sent_to_it(
    api: ApiFactory, team: Team, receiver: Receiver
) -> None:
    """410 fails the delivery and disables the endpoint; the next change reaches only the other."""
    owner = api(team.owner.token)
    gone = await create_webhook(owner, team.project_id, receiver.url("gone"))
    other = await create_webhook(owner, team.project_id, receiver.url("other"))
    receiver.expect("gone", gone["secret"], 410)
    receiver.expect("other", other["secret"])

    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await receiver.wait_for(lambda r: len(r.at("gone")) == 1 and len(r.at("other")) == 1)
    hooks = await webhooks_when(owner, team.project_id, lambda h: not h[gone["url"]]["enabled"])
    [failed] = hooks[gone["url"]]["deliveries"]
    assert (failed["failed"], failed["attempts"], failed["lastStatusCode"]) == (True, 1, 410)
    assert failed["nextAttemptAt"] is None

    (await owner.update_status(team.task, "COMPLETED")).ok()
    await receiver.wait_for(lambda r: len(r.at("other")) == 2)
    hooks = await webhooks_when(owner, team.project_id, lambda h: delivered(h[other["url"]], 2))
    assert len(receiver.at("gone")) == 1
    assert len(hooks[gone["url"]]["deliveries"]) == 1


async def test_deliveries_survive_a_restart_while_the_receiver_is_down(
    api: ApiFactory, team: Team, stack: Stack
) -> None:
    """Changes commit while nobody listens; TaskBell restarts; each arrives exactly once."""
    receiver = Receiver()  # its port stays closed until it starts below
    owner = api(team.owner.token)
    hook = await create_webhook(owner, team.project_id, receiver.url("later"))
    receiver.expect("later", hook["secret"])
    for status in ("IN_PROGRESS", "IN_REVIEW", "COMPLETED"):
        (await owner.update_status(team.task, status)).ok()
    await webhooks_when(
        owner,
        team.project_id,
        lambda h: (
            len(h[hook["url"]]["deliveries"]) == 3
            and all(d["attempts"] >= 1 for d in h[hook["url"]]["deliveries"])
        ),
    )

    await stack.stop()
    await stack.start()
    await receiver.start()
    try:
        await receiver.wait_for(lambda r: len(r.at("later")) >= 3, seconds=20)
        hooks = await webhooks_when(owner, team.project_id, lambda h: delivered(h[hook["url"]], 3))
    finally:
        await receiver.stop()
    ids = [r.webhook_id for r in receiver.at("later")]
    assert sorted(ids) == sorted(d["id"] for d in hooks[hook["url"]]["deliveries"])
    assert len(set(ids)) == 3
    assert all(r.verified for r in receiver.at("later"))
    versions = sorted(r.body["data"]["version"] for r in receiver.at("later"))
    assert versions == [2, 3, 4]


async def test_webhooks_lists_endpoints_without_secrets_and_delete_removes_them(
    api: ApiFactory, team: Team, receiver: Receiver
) -> None:
    """The secret is shown once; deleteWebhook removes the endpoint, a second time NOT_FOUND."""
    owner, member = api(team.owner.token), api(team.member.token)
    hook = await create_webhook(owner, team.project_id, receiver.url("listed"))
    listed = await webhooks(member, team.project_id)
    assert listed[hook["url"]]["id"] == hook["id"]
    assert listed[hook["url"]]["secret"] is None
    assert (await member.execute(DELETE, id=hook["id"])).ok() == {"deleteWebhook": True}
    assert hook["url"] not in await webhooks(owner, team.project_id)
    assert (await member.execute(DELETE, id=hook["id"])).codes == ["NOT_FOUND"]


async def test_non_members_may_not_see_create_or_delete_webhooks(
    api: ApiFactory, team: Team, other_team: Team, receiver: Receiver
) -> None:
    """FORBIDDEN for a foreign project's webhooks, and nothing is created or deleted."""
    owner, stranger = api(team.owner.token), api(other_team.owner.token)
    hook = await create_webhook(owner, team.project_id, receiver.url("mine"))

    assert (await stranger.execute(WEBHOOKS, p=team.project_id)).codes == ["FORBIDDEN"]
    refused = await stranger.execute(CREATE, p=team.project_id, url=receiver.url("theirs"))
    assert refused.codes == ["FORBIDDEN"]
    assert (await stranger.execute(DELETE, id=hook["id"])).codes == ["FORBIDDEN"]
    assert list(await webhooks(owner, team.project_id)) == [hook["url"]]
