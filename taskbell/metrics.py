"""Prometheus metrics, one registry per app so several apps can share a process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from taskbell.realtime.stats import Stats


class Metrics:
    def __init__(self, stats: Stats) -> None:
        self.registry = CollectorRegistry()
        connections = Gauge(
            "taskbell_websocket_connections", "Open WebSocket connections.", registry=self.registry
        )
        connections.set_function(lambda: stats.connections)
        subscriptions = Gauge(
            "taskbell_subscriptions", "Live GraphQL subscriptions.", registry=self.registry
        )
        subscriptions.set_function(lambda: stats.snapshot().total_subscriptions)
        self.events_published = Counter(
            "taskbell_events_published",
            "Messages handed to the broadcast backend.",
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "taskbell_publish_failures",
            "Publishes the broadcast backend refused.",
            registry=self.registry,
        )
        self.events_delivered = Counter(
            "taskbell_events_delivered", "Events yielded to subscribers.", registry=self.registry
        )
        self.replayed = Counter(
            "taskbell_events_replayed",
            "Events read back from the log (resume or resync).",
            registry=self.registry,
        )
        self.slow_consumers_closed = Counter(
            "taskbell_slow_consumers_closed",
            "Sockets closed for not reading (4413).",
            registry=self.registry,
        )
        self.token_cache_hits = Counter(
            "taskbell_token_cache_hits",
            "Bearer tokens answered from the process's token cache (no database read).",
            registry=self.registry,
        )
        self.membership_cache_hits = Counter(
            "taskbell_membership_cache_hits",
            "Subscribes whose membership check the process's cache answered (no database read).",
            registry=self.registry,
        )
        self.mutation_seconds = Histogram(
            "taskbell_mutation_seconds",
            "updateTaskStatus latency.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
