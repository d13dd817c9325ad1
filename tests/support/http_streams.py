"""Subscriptions over HTTP streams, as real clients read them: graphql-sse and multipart."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from httpx_sse import aconnect_sse

GRAPHQL_SSE = "graphql-sse"
MULTIPART = "multipart"
MULTIPART_ACCEPT = 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json'
_DELIMITER = b"\r\n--graphql"
STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)


def _request(token: str | None, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return {"json": {"query": query, "variables": variables}, "headers": headers}


async def sse_events(
    http: httpx.AsyncClient,
    token: str | None,
    query: str,
    variables: dict[str, Any],
    last_event_id: str | None = None,
) -> AsyncGenerator[tuple[dict[str, Any], str], None]:
    """Each ``next`` result of a graphql-sse (distinct connections) stream with its SSE id,
    until ``complete``."""
    request = _request(token, query, variables)
    if last_event_id is not None:
        request["headers"]["Last-Event-ID"] = last_event_id
    async with aconnect_sse(http, "POST", "/graphql", timeout=STREAM_TIMEOUT, **request) as source:
        assert source.response.status_code == 200, await source.response.aread()
        async for event in source.aiter_sse():
            if event.event == "complete":
                return
            if event.event == "next":
                yield json.loads(event.data), event.id


async def multipart_results(
    http: httpx.AsyncClient, token: str | None, query: str, variables: dict[str, Any]
) -> AsyncGenerator[dict[str, Any], None]:
    """Each result part of an Apollo multipart subscription, heartbeats skipped, until it ends."""
    request = _request(token, query, variables)
    request["headers"]["Accept"] = MULTIPART_ACCEPT
    async with http.stream("POST", "/graphql", timeout=STREAM_TIMEOUT, **request) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("multipart/mixed")
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            *parts, buffer = buffer.split(_DELIMITER)
            for part in parts:
                if not part:
                    continue  # the preamble before the first delimiter
                _, _, body = part.partition(b"\r\n\r\n")
                message = json.loads(body)
                if message == {}:
                    continue  # a heartbeat
                if message.get("payload") is None and message.get("errors"):
                    yield {"data": None, "errors": message["errors"]}
                else:
                    yield message["payload"]
            if buffer.startswith(b"--"):
                return  # the closing delimiter
