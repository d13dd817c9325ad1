"""JWKS keys over real HTTP: RS256 and ES256 verify, rotation is picked up, and unknown kids
cannot make TaskBell hammer the JWKS host."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import jwt
import pytest

from taskbell import jwks, jwts
from tests.support.jwt_issuer import ISSUER, JwksServer, SigningKey, claims, jwks_server

INTERVAL = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rsa_key() -> SigningKey:
    return SigningKey.rsa()


@pytest.fixture
def host(rsa_key: SigningKey) -> Iterator[JwksServer]:
    with jwks_server(rsa_key, SigningKey.ec()) as served:
        yield served


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(host: JwksServer, clock: FakeClock) -> jwts.JwtVerifier:
    cache = jwks.JwksCache(host.url, INTERVAL, clock=clock)
    return jwts.JwtVerifier(ISSUER, None, jwks=cache)


async def test_rs256_and_es256_tokens_verify_with_one_fetch(
    host: JwksServer, verifier: jwts.JwtVerifier
) -> None:
    """Both kinds of key in the set work; the set is fetched once and then cached."""
    for key in host.keys:
        assert await verifier.verify(key.sign(claims())) is not None
    assert host.requests == 1


async def test_a_flood_of_unknown_kids_fetches_at_most_once_per_interval(
    host: JwksServer, rsa_key: SigningKey, verifier: jwts.JwtVerifier, clock: FakeClock
) -> None:
    """An unknown kid refetches the set (proved by the first), but 200 more, concurrent or
    not, within the interval fetch nothing; after the interval one more fetch is allowed."""
    assert await verifier.verify(rsa_key.sign(claims())) is not None
    assert host.requests == 1
    clock.now += INTERVAL
    made_up = [rsa_key.sign(claims(), kid=secrets.token_hex(8)) for _ in range(200)]
    assert await verifier.verify(made_up[0]) is None
    assert host.requests == 2
    results = await asyncio.gather(*(verifier.verify(token) for token in made_up[1:100]))
    for token in made_up[100:]:
        results.append(await verifier.verify(token))
    assert results == [None] * 199
    assert host.requests == 2
    clock.now += INTERVAL
    assert await verifier.verify(made_up[0]) is None
    assert host.requests == 3


async def test_a_rotated_key_is_accepted_once_it_is_published(
    host: JwksServer, rsa_key: SigningKey, verifier: jwts.JwtVerifier, clock: FakeClock
) -> None:
    """A token signed with a new key is refused until the JWKS lists it, then accepted."""
    assert await verifier.verify(rsa_key.sign(claims())) is not None
    rotated = SigningKey.rsa()
    token = rotated.sign(claims())
    clock.now += INTERVAL
    assert await verifier.verify(token) is None  # refetched, but not published yet
    host.keys.append(rotated)
    assert await verifier.verify(token) is None  # within the interval: no refetch
    clock.now += INTERVAL
    assert await verifier.verify(token) is not None
    assert await verifier.verify(rsa_key.sign(claims())) is not None  # the old key still works


async def test_a_withdrawn_key_stops_working_once_the_cache_is_old(
    host: JwksServer, rsa_key: SigningKey, verifier: jwts.JwtVerifier, clock: FakeClock
) -> None:
    """Known kids are served from the cache, but not forever: a stale set is refetched."""
    assert await verifier.verify(rsa_key.sign(claims())) is not None
    host.keys.remove(rsa_key)
    assert await verifier.verify(rsa_key.sign(claims())) is not None  # cached
    clock.now += jwks.MAX_AGE_SECONDS + 1
    assert await verifier.verify(rsa_key.sign(claims())) is None


async def test_a_token_cannot_choose_the_algorithm_its_key_is_used_with(
    host: JwksServer, rsa_key: SigningKey, verifier: jwts.JwtVerifier
) -> None:
    """An ES256 signature under an RSA key's kid, or an HS256 one keyed with the public
    JWK's modulus, is refused."""
    ec_key = SigningKey.ec()
    assert await verifier.verify(ec_key.sign(claims(), kid=rsa_key.kid)) is None
    forged = jwt.encode(
        claims(), rsa_key.jwk()["n"] + "-padding-to-32-bytes", "HS256", headers={"kid": rsa_key.kid}
    )
    assert await verifier.verify(forged) is None


async def test_a_failing_jwks_host_is_asked_once_per_interval_too(
    host: JwksServer, rsa_key: SigningKey, verifier: jwts.JwtVerifier, clock: FakeClock
) -> None:
    """While the host answers 503, tokens are refused and a failed fetch counts against the
    interval; once it recovers (and the interval passed) the keys work."""
    host.status = 503
    token = rsa_key.sign(claims())
    assert await verifier.verify(token) is None
    assert await verifier.verify(token) is None
    assert host.requests == 1
    host.status = 200
    clock.now += INTERVAL
    assert await verifier.verify(token) is not None
    assert host.requests == 2
