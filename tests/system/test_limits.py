"""Limits that keep one client from hurting the others: slow readers, floods, guessers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.graphql_ws import GraphQLSocket, graphql_socket
from tests.support.processes import HOST, RedisProcess, TaskBellProcess
from tests.system.conftest import (
    SUBSCRIBE,
    StartServer,
    Team,
    change,
    graphql,
    make_team,
    stats,
    until_subscribed,
)

MiB = 1024 * 1024
# About 1 KiB per event, so a stalled reader backs the server's buffers up quickly.
WIDE_SUBSCRIPTION = (
    "subscription { taskStatusUpdated { "
    + " ".join(f"m{n}: message" for n in range(12))
    + " cursor taskId } }"
)


TRANSPORTS = ["graphql-transport-ws", "graphql-ws", "graphql-sse", "multipart"]
_UPGRADE = (
    "GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
)
_ACCEPT = {
    "graphql-sse": "text/event-stream",
    "multipart": 'multipart/mixed;subscriptionSpec="1.0"',
}


class StalledClient:
    """A raw client with a tiny receive window that subscribes over one transport, then
    never reads."""

    def __init__(self, port: int, transport: str) -> None:
        self.transport = transport
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(15)
        self.sock.connect((HOST, port))

    def subscribe(self, token: str, query: str) -> None:
        if self.transport in _ACCEPT:
            body = json.dumps({"query": query}).encode()
            self.sock.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {token}\r\nAccept: {_ACCEPT[self.transport]}\r\n".encode()
                + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            assert b" 200 " in self._read_until(b"\r\n\r\n")
            return
        self.sock.sendall(_UPGRADE.format(protocol=self.transport).encode())
        assert b" 101 " in self._read_until(b"\r\n\r\n")
        self._send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert b"connection_ack" in self._read_until(b"connection_ack")
        start = "subscribe" if self.transport == "graphql-transport-ws" else "start"
        self._send({"id": "s", "type": start, "payload": {"query": query}})

    def wait_closed(self) -> bytes:
        """Read what is left; return its tail once the server ends the connection."""
        tail = b""
        with self.sock, contextlib.suppress(ConnectionResetError):
            while chunk := self.sock.recv(65536):
                tail = (tail + chunk)[-64:]
        return tail

    def assert_goodbye(self, tail: bytes) -> None:
        """WebSockets end with a 4413 close frame; HTTP streams with the last chunk."""
        if self.transport in _ACCEPT:
            assert tail.endswith(b"0\r\n\r\n"), tail
        else:
            assert b"\x88" in tail  # a close frame ends the stream ...
            assert (4413).to_bytes(2, "big") in tail  # ... with the slow-consumer code

    def _send(self, message: dict[str, object]) -> None:
        payload = json.dumps(message).encode()
        header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
        # A client frame must be masked; an all-zero mask leaves the payload as it is.
        self.sock.sendall(header + b"\0\0\0\0" + payload)

    def _read_until(self, marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            data += self.sock.recv(4096)
        return data


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_stalled_client_is_closed_while_others_keep_receiving(
    start_server: StartServer, private_redis: RedisProcess, transport: str
) -> None:
    """A client that never reads is closed once it is too far behind (4413 on WebSockets, the
    end of the stream on HTTP); the others get all 1,000 events; RSS holds."""
    server = await start_server(
        private_redis.url,
        send_timeout_seconds="30",  # the byte budget, not the timer, must close it here
        client_buffer_bytes=str(256 * 1024),
        socket_send_buffer_bytes="16384",
        ws_ping_interval_seconds="600",  # only our slow-consumer guard may close it
    )
    team = await make_team(server, members=2, tasks=4)
    # Warm the server up first (statement caches, pools, allocator arenas), so the
    # RSS comparison measures what the stalled client costs, not a cold start.
    # 24 changes per task bring each back to the status it started in.
    await asyncio.gather(*(_write(server, team, t, 24) for t in team.task_ids))
    process = psutil.Process(server.pid)
    stalled = StalledClient(server.port, transport)
    await asyncio.to_thread(stalled.subscribe, team.tokens[1], WIDE_SUBSCRIPTION)
    async with graphql_socket(server.ws_url, team.tokens[1]) as reader:
        await reader.subscribe("s", SUBSCRIBE, {"p": [team.project_id]})
        await until_subscribed(server, 2)
        rss_before = process.memory_info().rss
        events = 1000
        received = asyncio.create_task(_count(reader, events))
        writers = asyncio.gather(*(_write(server, team, t, events // 4) for t in team.task_ids))
        await _until_metric(server, "taskbell_slow_consumers_closed_total 1.0")
        tail = await asyncio.to_thread(stalled.wait_closed)  # it reads again: the goodbye is there
        await writers
        assert await received == events
        rss_after = process.memory_info().rss
    print(f"{transport}: RSS before {rss_before / MiB:.1f} MiB, after {rss_after / MiB:.1f} MiB")
    stalled.assert_goodbye(tail)
    assert rss_after - rss_before < 8 * MiB


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_stalled_client_is_closed_by_the_timer_when_no_further_event_comes(
    start_server: StartServer, private_redis: RedisProcess, transport: str
) -> None:
    """Far under its byte budget but blocked: closed once the send timeout passes, though
    nothing more is published (a timer notices, not the next event)."""
    server = await start_server(
        private_redis.url,
        send_timeout_seconds="2",
        client_buffer_bytes=str(64 * MiB),
        socket_send_buffer_bytes="16384",
        ws_ping_interval_seconds="600",
    )
    team = await make_team(server, members=2, tasks=1)
    stalled = StalledClient(server.port, transport)
    await asyncio.to_thread(stalled.subscribe, team.tokens[1], WIDE_SUBSCRIPTION)
    await until_subscribed(server, 1)
    # About 200 KiB: more than the kernel buffers on both sides hold, far below the budget.
    await _write(server, team, team.task_ids[0], 200)
    writes_done = asyncio.get_running_loop().time()
    await _until_metric(server, "taskbell_slow_consumers_closed_total 1.0", seconds=20)
    closed_after = asyncio.get_running_loop().time() - writes_done
    tail = await asyncio.to_thread(stalled.wait_closed)
    stalled.assert_goodbye(tail)
    assert closed_after < 2 + 5, f"closed {closed_after:.1f} s after the last event"
    assert (await stats(server))["total_subscriptions"] == 0


async def _until_metric(server: TaskBellProcess, line: str, seconds: float = 60) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http, asyncio.timeout(seconds):
        while line not in (await http.get("/metrics")).text:  # noqa: ASYNC110  # another process
            await asyncio.sleep(0.2)


async def _write(server: TaskBellProcess, team: Team, task_id: str, changes: int) -> None:
    for n in range(changes):
        await change(server, team.tokens[0], task_id, n)


async def _count(socket: GraphQLSocket, events: int) -> int:
    for _ in range(events):
        await socket.next_data(30)
    return events


async def test_operation_flood_is_closed_without_hurting_others(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """A socket flooding subscribe/complete is closed with 4429; a quiet one carries on."""
    server = await start_server(private_redis.url)
    team = await make_team(server, members=2, tasks=1)
    async with (
        graphql_socket(server.ws_url, team.tokens[1]) as quiet,
        graphql_socket(server.ws_url, team.tokens[1]) as flooder,
    ):
        await quiet.subscribe("q", SUBSCRIBE, {"p": [team.project_id]})
        with contextlib.suppress(ConnectionClosed):  # the server may hang up mid-flood
            for n in range(500):
                await flooder.subscribe(f"f{n}", SUBSCRIBE, {"p": [team.project_id]})
                await flooder.send({"id": f"f{n}", "type": "complete"})
        code = await flooder.close_code()
        await change(server, team.tokens[0], team.task_ids[0], 0)
        assert (await quiet.next_data(5))["taskStatusUpdated"]["newStatus"] == "IN_PROGRESS"
    assert code == 4429


async def test_password_guessing_is_rate_limited(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """Failed sign-ins for one email hit RATE_LIMITED with a retry-after hint, even if right."""
    server = await start_server(private_redis.url, login_failures_per_email="3/minute")
    team = await make_team(server, members=1, tasks=0)
    login = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
    codes = [
        (await graphql(server, None, login, e=team.emails[0], p=f"guess-{n}"))["errors"][0][
            "extensions"
        ]
        for n in range(4)
    ]
    assert [c["code"] for c in codes] == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
    assert codes[-1]["retryAfter"] > 0
    right = await graphql(server, None, login, e=team.emails[0], p="long-enough-password")
    assert right["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_oversized_request_body_is_refused(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """A body above the cap gets 413 and a GraphQL-shaped BAD_USER_INPUT error."""
    server = await start_server(private_redis.url, max_body_bytes="2048")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/graphql", json={"query": "{ me { id } }" + " " * 4096})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_oversized_websocket_message_closes_the_socket(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """A WebSocket message above the cap is refused with 1009 (message too big)."""
    server = await start_server(private_redis.url, max_message_bytes="4096")
    team = await make_team(server, members=1, tasks=0)
    async with graphql_socket(server.ws_url, team.tokens[0]) as big:
        await big.subscribe("x", SUBSCRIBE + " " * 8192)
        assert await big.close_code() == 1009
