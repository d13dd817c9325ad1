"""Settings read from the environment (``TASKBELL_*``); built by the caller, never at import."""

from __future__ import annotations

import hashlib
import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    """Everything an operator can tune; the defaults run anywhere with no server."""

    model_config = SettingsConfigDict(env_prefix="TASKBELL_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./taskbell.db"
    broadcast_url: str = "memory://"
    channel_prefix: str | None = Field(
        default=None,
        description="Namespace for broadcast channels; derived from the database when unset.",
    )
    allowed_origins: list[str] = Field(default_factory=list)
    max_subscriptions_per_connection: int = 100
    connection_init_timeout_seconds: float = 5.0
    # Messages a subscription's broker inbox holds before it re-reads the log instead.
    subscription_buffer: int = 1000
    # The slow-client rule (taskbell.realtime.output): a connection more than this many
    # bytes behind is closed (Centrifugo's default), as is one whose writes stay blocked
    # for send_timeout_seconds.
    client_buffer_bytes: int = 1024 * 1024
    replay_batch_size: int = 500
    max_query_depth: int = 8
    max_aliases: int = 30
    max_tokens: int = 2000
    db_pool_size: int = 10
    # Abuse limits (the `limits` library's notation).
    login_failures_per_email: str = "5/minute"
    login_failures_per_address: str = "20/minute"
    socket_operations_limit: str = "60/10 seconds"
    max_body_bytes: int = 64 * 1024
    max_message_bytes: int = 64 * 1024
    # A connection whose writes stay blocked this long is too far behind: closed (4413).
    send_timeout_seconds: float = 10.0
    # Kernel send buffer per connection (0: the OS autotunes it, up to megabytes).
    # A fixed size bounds memory per socket and lets a stalled reader show up as
    # a blocked send instead of megabytes quietly queued in the kernel.
    socket_send_buffer_bytes: int = 128 * 1024
    # WebSocket pings; a peer that misses a pong for as long is dropped (uvicorn, 1011).
    ws_ping_interval_seconds: float = 20.0
    # Time in-flight requests get to finish on shutdown.
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"
    # FastAPI's native OpenTelemetry; off, it costs nothing per request or socket.
    opentelemetry: bool = False
    # Outgoing webhooks: seconds before each retry; the schedule running out fails a delivery.
    webhook_retry_schedule: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    # Let webhooks reach loopback, private and link-local addresses (tests, private networks).
    allow_private_destinations: bool = False
    # How often the outbox looks for due retries and other processes' messages.
    outbox_poll_seconds: float = 1.0

    def resolved_channel_prefix(self) -> str:
        """Channels are namespaced per deployment so two of them can share one broker."""
        if self.channel_prefix is not None:
            return self.channel_prefix
        url = make_url(self.database_url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database:
            database = os.path.abspath(database)  # ./taskbell.db differs per directory
        identity = f"{url.host or ''}:{url.port or ''}/{database}"
        return "tb." + hashlib.sha256(identity.encode()).hexdigest()[:10] + "."
