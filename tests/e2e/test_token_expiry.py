"""Tokens stop working TASKBELL_TOKEN_TTL_SECONDS (or --token-ttl) after they are issued."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support.processes import TaskBellProcess, server_env, sqlite_url

from .conftest import CREATE_PROJECT, CREATE_TASK
from .support import (
    GRAPHQL_TRANSPORT_WS,
    LEGACY_GRAPHQL_WS,
    ME,
    TASK_STATUS_UPDATED,
    TASKS,
    WAIT_SECONDS,
    ApiFactory,
    Stack,
)

DEFAULT_TTL = timedelta(seconds=2592000)
LOGIN = """
mutation ($email: String!, $password: String!) {
  login(email: $email, password: $password) { token expiresAt user { id } }
}"""
SHORT_TTL_SECONDS = 6


def _instant(text: str) -> datetime:
    """An ISO 8601 instant as printed or served; it must say it is UTC."""
    found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert found.utcoffset() == timedelta(0), text
    return found


async def _create(stack: Stack, *extra: str) -> dict[str, Any]:
    email = f"ttl-{secrets.token_hex(4)}@example.test"
    created: dict[str, Any] = await stack.cli(
        "user", "create", f"--email={email}", "--name=Tess", "--password=password123", *extra
    )
    return created


async def _refused_at_init(stack: Stack, subprotocol: str, token: str) -> int | None:
    """The close code after a connection_init carrying `token`; never an ack."""
    received: list[str | bytes] = []
    async with websockets.connect(
        stack.ws_url, subprotocols=[Subprotocol(subprotocol)], open_timeout=WAIT_SECONDS
    ) as socket:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        async with asyncio.timeout(WAIT_SECONDS):
            with suppress(ConnectionClosed):
                received.extend([message async for message in socket])
    assert not any("connection_ack" in str(message) for message in received)
    return socket.close_code


async def test_user_create_prints_when_the_token_expires(stack: Stack) -> None:
    """--token-ttl sets the printed token's lifetime; without it the server default applies."""
    before = datetime.now(UTC)
    short = await _create(stack, "--token-ttl=3600")
    default = await _create(stack)
    after = datetime.now(UTC)
    assert {"id", "email", "name", "token", "expiresAt"} <= set(short)
    assert before + timedelta(hours=1) <= _instant(short["expiresAt"]) <= after + timedelta(hours=1)
    assert before + DEFAULT_TTL <= _instant(default["expiresAt"]) <= after + DEFAULT_TTL


async def test_a_zero_token_ttl_is_refused_by_the_cli(stack: Stack) -> None:
    """A lifetime must be positive: the command fails and prints no token."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskbell", "user", "create", "--email=zero@example.test", "--name=Z",
        "--token-ttl=0", cwd=stack.workdir, env=stack.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    assert out == b""
    assert b"token-ttl" in err


async def test_login_answers_when_its_token_expires(stack: Stack, api: ApiFactory) -> None:
    """AuthPayload.expiresAt is the server's TTL after the login, in UTC."""
    created = await _create(stack)
    before = datetime.now(UTC)
    result = await api(None).execute(LOGIN, email=created["email"], password="password123")
    login = result.ok()["login"]
    after = datetime.now(UTC)
    assert before + DEFAULT_TTL - timedelta(seconds=1) <= _instant(login["expiresAt"])
    assert _instant(login["expiresAt"]) <= after + DEFAULT_TTL + timedelta(seconds=1)


async def test_an_expired_token_is_refused_everywhere_and_changes_nothing(
    stack: Stack, api: ApiFactory
) -> None:
    """A token that worked is, once expired, UNAUTHENTICATED over HTTP, closed with 4403 at
    connection_init on both protocols, and its mutation changes nothing."""
    created = await _create(stack, f"--token-ttl={SHORT_TTL_SECONDS}")
    mine = api(created["token"])
    project = (await mine.execute(CREATE_PROJECT, name="Short lived")).ok()["createProject"]
    task = (await mine.execute(CREATE_TASK, projectId=project["id"], title="Stay put")).ok()
    deadline = time.monotonic() + SHORT_TTL_SECONDS + 10
    while (await mine.execute(ME)).codes != ["UNAUTHENTICATED"]:
        assert time.monotonic() < deadline, "the token never expired"
        await asyncio.sleep(0.2)
    moved = await mine.execute(
        "mutation ($id: ID!) { updateTaskStatus(taskId: $id, status: COMPLETED) { id } }",
        id=task["createTask"]["id"],
    )
    assert moved.codes == ["UNAUTHENTICATED"]
    for subprotocol in (GRAPHQL_TRANSPORT_WS, LEGACY_GRAPHQL_WS):
        assert await _refused_at_init(stack, subprotocol, created["token"]) == 4403
    fresh = (await api(None).execute(LOGIN, email=created["email"], password="password123")).ok()
    tasks = (await api(fresh["login"]["token"]).execute(TASKS, projectId=project["id"])).ok()
    assert [found["status"] for found in tasks["tasks"]] == ["TODO"]


async def test_demo_prints_when_each_token_expires(tmp_path: Path) -> None:
    """`taskbell demo` adds expiresAt to every user it prints, keeping the other keys."""
    cli = TaskBellProcess(server_env(sqlite_url(tmp_path), "memory://"), tmp_path)
    before = datetime.now(UTC)
    seeded = await cli.cli("demo")
    for user in seeded["users"]:
        assert {"id", "email", "name", "password", "token", "expiresAt"} <= set(user)
        assert _instant(user["expiresAt"]) >= before + DEFAULT_TTL


@pytest.mark.parametrize("subprotocol", [GRAPHQL_TRANSPORT_WS, LEGACY_GRAPHQL_WS])
async def test_a_live_subscription_ends_within_five_seconds_of_expiry(
    stack: Stack, subprotocol: str
) -> None:
    """With no event to deliver, the expiry alone ends the subscription: graphql-transport-ws
    closes the socket with 4403, legacy graphql-ws sends UNAUTHENTICATED, then complete."""
    created = await _create(stack, "--token-ttl=3")
    expires_at = _instant(created["expiresAt"])
    async with websockets.connect(
        stack.ws_url, subprotocols=[Subprotocol(subprotocol)], open_timeout=WAIT_SECONDS
    ) as socket:
        init = {
            "type": "connection_init",
            "payload": {"authorization": f"Bearer {created['token']}"},
        }
        await socket.send(json.dumps(init))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        start = "subscribe" if subprotocol == GRAPHQL_TRANSPORT_WS else "start"
        payload = {"query": TASK_STATUS_UPDATED, "variables": {}}
        await socket.send(json.dumps({"id": "1", "type": start, "payload": payload}))
        limit = (expires_at - datetime.now(UTC)).total_seconds() + 5
        messages: list[dict[str, Any]] = []
        async with asyncio.timeout(limit):
            with suppress(ConnectionClosed):
                async for raw in socket:
                    message = json.loads(raw)
                    if message.get("type") in {"ping", "ka"}:
                        continue
                    messages.append(message)
                    if message.get("type") == "complete":
                        break
    ended = datetime.now(UTC)
    assert ended <= expires_at + timedelta(seconds=5)
    if subprotocol == GRAPHQL_TRANSPORT_WS:
        assert socket.close_code == 4403, messages
    else:
        kinds = [message["type"] for message in messages]
        assert kinds[-2:] == ["error", "complete"] or kinds[-2:] == ["data", "complete"], kinds
        errors = messages[-2]["payload"].get("errors") or [messages[-2]["payload"]]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
