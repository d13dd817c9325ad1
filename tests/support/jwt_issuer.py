"""A host app for the JWT tests: real RSA and EC P-256 keys, tokens signed with PyJWT, and a
JWKS served over HTTP on 127.0.0.1 that counts its requests."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

HOST = "127.0.0.1"
ISSUER = "https://host.example.test"
AUDIENCE = "taskbell"
# HS256 keys must be at least 32 bytes (TaskBell refuses shorter ones, PyJWT warns).
HS256_SECRET = "an-hs256-secret-of-at-least-32-bytes!"


@dataclass(frozen=True)
class SigningKey:
    """A private key, its algorithm and kid, and the public JWK a JWKS lists for it."""

    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def rsa(cls, kid: str | None = None) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"rsa-{secrets.token_hex(4)}", "RS256", private)

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        return cls(
            kid or f"ec-{secrets.token_hex(4)}", "ES256", ec.generate_private_key(ec.SECP256R1())
        )

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            found: Any = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            found = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**found, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def sign(self, claims: dict[str, Any], kid: str | None = None) -> str:
        """The claims signed with this key; `kid` overrides the header's key id."""
        return jwt.encode(claims, self.private, self.algorithm, headers={"kid": kid or self.kid})


def claims(
    sub: str | None = None, ttl: float = 300, drop: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    """Valid claims for ISSUER (a fresh subject unless given), expiring `ttl` seconds from now;
    `extra` adds or replaces claims, `drop` removes them."""
    subject = sub or f"user-{secrets.token_hex(6)}"
    found: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "exp": int(time.time() + ttl),
        "email": f"{subject}@host.example.test",
        "name": f"Host User {subject[-4:]}",
    }
    found.update(extra)
    return {key: value for key, value in found.items() if key not in drop}


def hs256(payload: dict[str, Any], secret: str = HS256_SECRET) -> str:
    return jwt.encode(payload, secret, "HS256")


@dataclass
class JwksServer:
    """Serves `keys` as a JWKS at `url` from a thread; `requests` counts the GETs and
    `fetched_at` holds when each came (time.monotonic)."""

    keys: list[SigningKey]
    fetched_at: list[float] = field(default_factory=list)
    port: int = 0
    # Anything but 200 answers with that status and no keys: a sick JWKS host.
    status: int = 200

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/.well-known/jwks.json"

    @property
    def requests(self) -> int:
        return len(self.fetched_at)

    def document(self) -> bytes:
        return json.dumps({"keys": [key.jwk() for key in self.keys]}).encode()


def _handler(server: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.fetched_at.append(time.monotonic())
            body = server.document() if server.status == 200 else b"{}"
            self.send_response(server.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest's output is no place for an access log."""

    return Handler


@contextlib.contextmanager
def jwks_server(*keys: SigningKey) -> Iterator[JwksServer]:
    """A real JWKS over HTTP on a free port of 127.0.0.1, for the duration."""
    served = JwksServer(list(keys))
    http = ThreadingHTTPServer((HOST, 0), _handler(served))
    served.port = http.server_address[1]
    thread = threading.Thread(target=http.serve_forever, name="jwks", daemon=True)
    thread.start()
    try:
        yield served
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)
