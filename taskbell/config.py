"""Settings read from the environment (``TASKBELL_*``); built by the caller, never at import."""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_TOKEN_TTL_SECONDS = 30 * 24 * 3600
# RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
MIN_JWT_SECRET_BYTES = 32


class Settings(BaseSettings):
    """Everything an operator can tune; the defaults run anywhere with no server."""

    # Errors never echo the input: it may hold TASKBELL_JWT_SECRET.
    model_config = SettingsConfigDict(
        env_prefix="TASKBELL_", extra="ignore", hide_input_in_errors=True
    )

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
    # permessage-deflate costs ~45 KiB of zlib state per socket, and grouped events are
    # written uncompressed anyway (taskbell.web.uvicorn_direct): off unless asked for.
    ws_per_message_deflate: bool = False
    # WebSocket pings; a peer that misses a pong for as long is dropped (uvicorn, 1011).
    ws_ping_interval_seconds: float = 20.0
    # Time in-flight requests get to finish on shutdown.
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"
    # uvicorn's line per HTTP request; off, as the proxy in front usually logs them
    # (formatting it was 4% of a mutation's CPU).
    access_log: bool = False
    # Allocations between the garbage collector's young passes under ``serve``
    # (Python's default is 700); 0 keeps Python's defaults. See web.server.tune_gc.
    gc_young_threshold: int = Field(default=10_000, ge=0)
    # FastAPI's native OpenTelemetry; off, it costs nothing per request or socket.
    opentelemetry: bool = False
    # Outgoing webhooks: seconds before each retry; the schedule running out fails a delivery.
    webhook_retry_schedule: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    # Let webhooks reach loopback, private and link-local addresses (tests, private networks).
    allow_private_destinations: bool = False
    # The URL people open; emails and push messages link to it.
    public_url: str = "http://127.0.0.1:8000"
    # Web Push (taskbell.services.vapid): a P-256 key in PEM; unset, one is generated
    # once and kept in the database (server_keys), so push works on the embedded default.
    vapid_private_key: SecretStr | None = None
    vapid_subject: str = "mailto:taskbell@localhost"
    # Push retries (429, 5xx, no answer): seconds before each; within the messages' TTL.
    push_retry_schedule: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0]
    )
    # How often the outbox looks for due retries and other processes' messages.
    outbox_poll_seconds: float = 1.0
    # Email (taskbell.services.email_*): none unless an SMTP server is set, e.g.
    # smtp://user:pass@host:587 (STARTTLS when offered) or smtps://host:465.
    smtp_url: SecretStr | None = None
    email_from: str = "TaskBell <taskbell@localhost>"
    # IMMEDIATE: how long after a member's first pending notification their email goes.
    email_delay_seconds: float = Field(default=120.0, ge=0)
    # How often each process looks for members whose email is due.
    email_sweep_seconds: float = Field(default=5.0, gt=0)
    # An SMTP outage: seconds before each retry (about 2.6 days in all), then it fails.
    email_retry_schedule: list[float] = Field(
        default_factory=lambda: (
            [30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0] + [28800.0] * 7
        )
    )
    # Bearer tokens stop working this long after they are issued (fixed at issue).
    token_ttl_seconds: int = Field(default=DEFAULT_TOKEN_TTL_SECONDS, gt=0)
    # Host apps' JWTs (taskbell.jwts): a shared secret (HS256) or a JWKS (RS256/ES256).
    jwt_secret: SecretStr | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # A token naming an unknown `kid` refetches the JWKS, but at most this often.
    jwks_refetch_interval_seconds: float = Field(default=30.0, ge=0)
    # Tokens each process remembers as checked (taskbell.token_cache); 0 turns it off.
    token_cache_size: int = Field(default=10_000, ge=0)
    # The longest an entry is trusted without reading the database again; 0 turns it off.
    token_cache_seconds: float = Field(default=60.0, ge=0)

    # Presence (taskbell.realtime.presence): diffs at most once per interval per project;
    # a member stays online for the grace after their last connection closes; an editing
    # mark lapses after its TTL unless renewed; each process re-sends its record every
    # heartbeat, and one silent for 4 heartbeats is taken for dead (its members leave).
    presence_interval_seconds: float = Field(default=1.0, gt=0)
    presence_grace_seconds: float = Field(default=5.0, ge=0)
    editing_ttl_seconds: float = Field(default=15.0, gt=0)
    presence_heartbeat_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _jwt_settings_are_complete(self) -> Settings:
        """Refuse to start with a JWT setup that would accept too much or nothing at all."""
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret is not None else ""
        if secret and self.jwks_url:
            raise ValueError("set TASKBELL_JWT_SECRET or TASKBELL_JWKS_URL, not both")
        if (secret or self.jwks_url) and not self.jwt_issuer:
            raise ValueError(
                "TASKBELL_JWT_ISSUER is required when TASKBELL_JWT_SECRET or TASKBELL_JWKS_URL"
                " is set"
            )
        if secret and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"TASKBELL_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long (HS256)"
            )
        return self

    @model_validator(mode="after")
    def _smtp_url_is_usable(self) -> Settings:
        """A typo in TASKBELL_SMTP_URL fails at start, not at the first email."""
        url = self.smtp_url.get_secret_value() if self.smtp_url is not None else None
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError(
                    "TASKBELL_SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://"
                )
        return self

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
