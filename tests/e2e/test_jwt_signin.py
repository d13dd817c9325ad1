"""Host apps sign their users in with JWTs: HS256 with a shared secret, RS256/ES256 from a real
JWKS over HTTP; on both stacks, over HTTP and both WebSocket protocols."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
import websockets
from gql.transport.exceptions import TransportQueryError
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import RequireService
from tests.support.jwt_issuer import (
    AUDIENCE,
    HS256_SECRET,
    JwksServer,
    SigningKey,
    claims,
    hs256,
    jwks_server,
)
from tests.support.processes import (
    TaskBellProcess,
)

from .conftest import CREATE_PROJECT
from .support import (
    GRAPHQL_TRANSPORT_WS,
    LEGACY_GRAPHQL_WS,
    ME,
    STACKS,
    WAIT_SECONDS,
    Api,
    ApiFactory,
    Sockets,
    error_codes,
    stack_server,
)

# Short, so the rotation and flood tests need not wait 30 s; the flood bound scales with it.
REFETCH_INTERVAL = 2.0
LOGOUT = "mutation { logout }"
PROJECTS = "query { projects { id name } }"


@dataclass(frozen=True)
class JwtServers:
    """Two servers of one stack: one trusting the JWKS (with an audience), one the secret."""

    jwks: TaskBellProcess
    hs256: TaskBellProcess


@pytest.fixture(scope="module")
def host() -> Iterator[JwksServer]:
    """The host app's JWKS: one RSA and one EC P-256 key, served over HTTP, counting fetches."""
    with jwks_server(SigningKey.rsa(), SigningKey.ec()) as served:
        yield served


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=STACKS)
async def servers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    require_service: RequireService,
    host: JwksServer,
) -> AsyncIterator[JwtServers]:
    name: str = request.param
    jwt_settings = {
        "jwks": {
            "jwks_url": host.url,
            "jwt_issuer": claims()["iss"],
            "jwt_audience": AUDIENCE,
            "jwks_refetch_interval_seconds": str(REFETCH_INTERVAL),
        },
        "hs256": {"jwt_secret": HS256_SECRET, "jwt_issuer": claims()["iss"]},
    }
    started: dict[str, TaskBellProcess] = {}
    async with AsyncExitStack() as resources:
        for kind, settings in jwt_settings.items():
            workdir = tmp_path_factory.mktemp(f"{name}-{kind}")
            server = stack_server(name, workdir, require_service, "tb_jwt", **settings)
            started[kind] = await resources.enter_async_context(server)
        yield JwtServers(**started)


@pytest_asyncio.fixture
async def hs_http(servers: JwtServers) -> AsyncIterator[httpx.AsyncClient]:
    async with servers.hs256.client() as client:
        yield client


@pytest_asyncio.fixture
async def jwks_http(servers: JwtServers) -> AsyncIterator[httpx.AsyncClient]:
    async with servers.jwks.client() as client:
        yield client


async def _me(http: httpx.AsyncClient, token: str) -> dict[str, str] | None:
    """`me` for the token, or None when the answer is UNAUTHENTICATED."""
    result = await Api(http, token).execute(ME)
    if result.codes == ["UNAUTHENTICATED"]:
        return None
    me: dict[str, str] = result.ok()["me"]
    return me


async def _until_accepted(http: httpx.AsyncClient, token: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while await _me(http, token) is None:
        assert time.monotonic() < deadline, f"not accepted within {seconds} s"
        await asyncio.sleep(0.2)


async def test_an_hs256_jwt_signs_in_a_user_made_from_its_claims(
    hs_http: httpx.AsyncClient,
) -> None:
    """First sight creates the user with the JWT's email and name; `me` says so."""
    payload = claims(email="Ada@Host.Example.Test", name="Ada Lovelace")
    me = await _me(hs_http, hs256(payload))
    assert me is not None
    assert (me["email"], me["name"]) == ("ada@host.example.test", "Ada Lovelace")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_jwks_signed_jwts_work_over_http(
    jwks_http: httpx.AsyncClient, host: JwksServer, algorithm: str
) -> None:
    """A token signed with the JWKS's RSA or EC key (and the right aud) is accepted."""
    key = next(key for key in host.keys if key.algorithm == algorithm)
    me = await _me(jwks_http, key.sign(claims(aud=AUDIENCE, name="Key User")))
    assert me is not None
    assert me["name"] == "Key User"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"iss": "https://impostor.example.test"}, "wrong iss"),
        ({"aud": "someone-else"}, "wrong aud"),
        ({"ttl": -60}, "past exp"),
    ],
)
async def test_bad_claims_are_unauthenticated_and_create_nothing(
    jwks_http: httpx.AsyncClient, host: JwksServer, change: dict[str, object], why: str
) -> None:
    """Refused requests change nothing: the subject still has no projects when it later signs
    in properly."""
    key, subject = host.keys[0], f"bad-{secrets.token_hex(4)}"
    overrides = {name: value for name, value in change.items() if name != "ttl"}
    ttl = float(str(change.get("ttl", 300)))
    bad = key.sign({"aud": AUDIENCE, **claims(sub=subject, ttl=ttl), **overrides})
    refused = await Api(jwks_http, bad).execute(CREATE_PROJECT, name="Never")
    assert refused.codes == ["UNAUTHENTICATED"], why
    good = key.sign(claims(sub=subject, aud=AUDIENCE))
    assert (await Api(jwks_http, good).execute(PROJECTS)).ok() == {"projects": []}


async def test_a_missing_audience_and_a_bad_signature_are_unauthenticated(
    jwks_http: httpx.AsyncClient, hs_http: httpx.AsyncClient, host: JwksServer
) -> None:
    """No aud where one is required; a signature by a key the JWKS does not hold under that
    kid; an HS256 token signed with another secret."""
    key = host.keys[0]
    assert await _me(jwks_http, key.sign(claims())) is None
    impostor = SigningKey.rsa(kid=key.kid).sign(claims(aud=AUDIENCE))
    assert await _me(jwks_http, impostor) is None
    assert await _me(hs_http, hs256(claims(), secret="x" * 40)) is None


async def test_a_later_jwt_updates_the_users_email_and_name(hs_http: httpx.AsyncClient) -> None:
    """Same (iss, sub), new claims: the same user, now with the new email and name."""
    subject = f"mover-{secrets.token_hex(4)}"
    first = await _me(hs_http, hs256(claims(sub=subject)))
    new_email = f"{subject}-new@host.example.test"
    later = await _me(hs_http, hs256(claims(sub=subject, email=new_email, name="Renamed")))
    assert first is not None
    assert later == {"id": first["id"], "email": new_email, "name": "Renamed"}


async def test_first_sight_without_an_email_is_unauthenticated(hs_http: httpx.AsyncClient) -> None:
    """TaskBell cannot make a user it has no email for."""
    result = await Api(hs_http, hs256(claims(drop=("email",)))).execute(ME)
    assert result.codes == ["UNAUTHENTICATED"]


async def test_a_jwt_with_a_password_users_email_is_refused(
    servers: JwtServers, hs_http: httpx.AsyncClient
) -> None:
    """Never linked to an existing account: UNAUTHENTICATED, and that user is unchanged."""
    email = f"owner-{secrets.token_hex(4)}@example.test"
    owner = await servers.hs256.cli(
        "user", "create", f"--email={email}", "--name=Owner", "--password=password123"
    )
    assert await _me(hs_http, hs256(claims(email=email, name="Taker"))) is None
    assert await _me(hs_http, owner["token"]) == {
        "id": owner["id"],
        "email": email,
        "name": "Owner",
    }


async def test_logout_refuses_that_jwt_until_it_expires(hs_http: httpx.AsyncClient) -> None:
    """After logout the same JWT is refused (it is still unexpired); a new JWT works."""
    subject = f"leaver-{secrets.token_hex(4)}"
    token = hs256(claims(sub=subject, ttl=600))
    assert (await Api(hs_http, token).execute(LOGOUT)).ok() == {"logout": True}
    assert await _me(hs_http, token) is None
    assert await _me(hs_http, hs256(claims(sub=subject, jti="next"))) is not None


@pytest.mark.parametrize("subprotocol", [GRAPHQL_TRANSPORT_WS, LEGACY_GRAPHQL_WS])
async def test_a_jwt_works_at_connection_init_and_on_the_upgrade(
    servers: JwtServers, subprotocol: str
) -> None:
    """In the connection_init payload or as the upgrade's Authorization header: acked; a bad
    JWT in the payload: closed with 4403."""
    token = hs256(claims())
    url = servers.hs256.ws_url
    for headers, payload in (
        ({}, {"authorization": f"Bearer {token}"}),
        ({"Authorization": f"Bearer {token}"}, {}),
    ):
        async with websockets.connect(
            url, subprotocols=[Subprotocol(subprotocol)], additional_headers=headers
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(socket.recv(), WAIT_SECONDS))
            assert ack["type"] == "connection_ack"
    bad = hs256(claims(), secret="y" * 40)
    async with websockets.connect(url, subprotocols=[Subprotocol(subprotocol)]) as socket:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {bad}"}}
        await socket.send(json.dumps(init))
        async with asyncio.timeout(WAIT_SECONDS):
            with suppress(ConnectionClosed):
                async for _message in socket:
                    pass
    assert socket.close_code == 4403


async def test_logout_with_a_jwt_ends_its_live_subscriptions(
    servers: JwtServers, hs_http: httpx.AsyncClient, subprotocol: str
) -> None:
    """A subscription opened with a JWT gets UNAUTHENTICATED once that JWT logs out."""
    token = hs256(claims(ttl=600))
    project = (await Api(hs_http, token).execute(CREATE_PROJECT, name="Live")).ok()
    sockets = Sockets(hs_http, servers.hs256.ws_url)
    async with sockets.task_events(token, [project["createProject"]["id"]], subprotocol) as live:
        assert (await Api(hs_http, token).execute(LOGOUT)).ok() == {"logout": True}
        with pytest.raises(TransportQueryError) as ended:
            await live.next()
    assert error_codes(ended.value.errors) == ["UNAUTHENTICATED"]


async def test_a_rotated_key_is_accepted_once_the_jwks_publishes_it(
    jwks_http: httpx.AsyncClient, host: JwksServer
) -> None:
    """Signed with a new key: refused while the JWKS lacks it, accepted after it appears."""
    rotated = SigningKey.ec()
    token = rotated.sign(claims(aud=AUDIENCE))
    assert await _me(jwks_http, token) is None
    host.keys.append(rotated)
    await _until_accepted(jwks_http, token, REFETCH_INTERVAL + WAIT_SECONDS)
    old = host.keys[0].sign(claims(aud=AUDIENCE))
    assert await _me(jwks_http, old) is not None


async def test_a_flood_of_unknown_kids_does_not_hammer_the_jwks_host(
    jwks_http: httpx.AsyncClient, host: JwksServer
) -> None:
    """80 tokens naming made-up kids: all refused, and the JWKS is fetched at least once (an
    unknown kid does refetch) but no more than once per refetch interval."""
    assert await _me(jwks_http, host.keys[0].sign(claims(aud=AUDIENCE))) is not None
    if host.fetched_at:  # let the interval since the last fetch pass, so a refetch may happen
        await asyncio.sleep(max(0.0, host.fetched_at[-1] + REFETCH_INTERVAL - time.monotonic()))
    before, started = host.requests, time.monotonic()
    key = host.keys[0]
    forged = [key.sign(claims(aud=AUDIENCE), kid=secrets.token_hex(8)) for _ in range(80)]
    answers = await asyncio.gather(*(_me(jwks_http, token) for token in forged))
    elapsed = time.monotonic() - started
    assert answers == [None] * len(forged)
    fetched = host.requests - before
    assert 1 <= fetched <= 1 + int(elapsed / REFETCH_INTERVAL), (fetched, elapsed)


async def test_jwts_are_bad_tokens_where_jwt_sign_in_is_off(api: ApiFactory) -> None:
    """The ordinary stack has no JWT settings: a perfectly signed JWT is UNAUTHENTICATED."""
    assert (await api(hs256(claims())).execute(ME)).codes == ["UNAUTHENTICATED"]
