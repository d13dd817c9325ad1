"""Operator endpoints: health, readiness, metrics, connection figures."""

from __future__ import annotations

import httpx
import pytest

from .support import Sockets


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_endpoints_answer_200(http: httpx.AsyncClient, path: str) -> None:
    """Liveness and readiness both answer 200 on a healthy stack."""
    response = await http.get(path)
    assert response.status_code == 200, response.text


async def test_metrics_expose_taskbell_metrics(http: httpx.AsyncClient) -> None:
    """/metrics serves Prometheus text that includes TaskBell's own metric names."""
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "taskbell_" in response.text


async def test_ws_stats_report_the_four_figures(sockets: Sockets) -> None:
    """/ws/stats is JSON with the seed's four non-negative integer figures."""
    stats = await sockets.stats()
    assert sorted(stats) == [
        "active_connections",
        "projects_with_subscribers",
        "subscribed_users",
        "total_subscriptions",
    ]
    assert all(isinstance(value, int) and value >= 0 for value in stats.values())
