"""JWT checks: what counts as a JWT, which ones verify, and which JWT settings start at all."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from taskbell import auth, cli, jwks, jwts
from taskbell.config import Settings
from tests.support.jwt_issuer import AUDIENCE, HS256_SECRET, ISSUER, SigningKey, claims, hs256


def verifier(audience: str | None = None) -> jwts.JwtVerifier:
    return jwts.JwtVerifier(ISSUER, audience, secret=HS256_SECRET)


def test_a_signed_jwt_has_the_shape_and_an_opaque_token_does_not() -> None:
    """Three base64url segments with a JSON header; TaskBell's own tokens never have dots."""
    assert jwts.looks_like_jwt(hs256(claims()))
    assert not jwts.looks_like_jwt(auth.new_token())
    assert not jwts.looks_like_jwt("a.b")
    assert not jwts.looks_like_jwt("bm90IGpzb24.e30.c2ln")  # header "not json"
    assert not jwts.looks_like_jwt("e30.e30.")  # no signature
    assert not jwts.looks_like_jwt("e30.e30.sig!")


async def test_a_valid_hs256_token_yields_its_claims() -> None:
    """iss, sub, exp (as a UTC datetime), email and name come through."""
    payload = claims(sub="u-1", email="ada@host.example.test", name="Ada")
    found = await verifier().verify(hs256(payload))
    assert found is not None
    assert (found.issuer, found.subject, found.email, found.name) == (
        ISSUER,
        "u-1",
        "ada@host.example.test",
        "Ada",
    )
    assert found.expires_at.timestamp() == payload["exp"]
    assert found.expires_at.tzinfo is not None


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (claims(iss="https://other.example.test"), "wrong issuer"),
        (claims(ttl=-30), "expired"),
        (claims(drop=("sub",)), "no sub"),
        (claims(drop=("exp",)), "no exp"),
        (claims(drop=("iss",)), "no iss"),
        (claims(email=42), "email is not a string"),
        (claims(exp=10**20), "exp beyond any date"),
    ],
)
async def test_bad_claims_are_a_bad_token(payload: dict[str, Any], why: str) -> None:
    """Each of these is refused, however well it is signed."""
    assert await verifier().verify(hs256(payload)) is None, why


async def test_a_wrong_signature_is_a_bad_token() -> None:
    """Signed with another secret: refused."""
    token = hs256(claims(), secret="another-secret-that-is-32-bytes-long!!")
    assert await verifier().verify(token) is None


async def test_other_algorithms_are_refused_by_an_hs256_setup() -> None:
    """An RS256 token and an unsigned one get nowhere with a shared secret configured."""
    rs256 = SigningKey.rsa().sign(claims())
    unsigned = jwt.encode(claims(), "", "none")
    assert await verifier().verify(rs256) is None
    assert await verifier().verify(unsigned) is None


async def test_the_audience_is_checked_only_when_configured() -> None:
    """With an audience set, a missing or different aud is refused; unset, aud is ignored."""
    right, wrong, missing = claims(aud=AUDIENCE), claims(aud="someone-else"), claims()
    assert await verifier(AUDIENCE).verify(hs256(right)) is not None
    assert await verifier(AUDIENCE).verify(hs256(wrong)) is None
    assert await verifier(AUDIENCE).verify(hs256(missing)) is None
    assert await verifier().verify(hs256(wrong)) is not None


async def test_expiry_has_no_more_than_a_few_seconds_of_leeway() -> None:
    """A token that expired a second ago still verifies (clock skew), one 30 s ago does not."""
    now = int(time.time())
    assert await verifier().verify(hs256(claims(exp=now - 1))) is not None
    assert await verifier().verify(hs256(claims(exp=now - 30))) is None
    assert jwts.LEEWAY_SECONDS <= 5


def test_jwt_sign_in_is_off_unless_configured() -> None:
    """No issuer, no verifier: every JWT is then a bad token."""
    assert jwts.JwtVerifier.from_settings(Settings()) is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jwt_secret": HS256_SECRET}, "TASKBELL_JWT_ISSUER is required"),
        ({"jwks_url": "http://127.0.0.1:1/jwks"}, "TASKBELL_JWT_ISSUER is required"),
        (
            {"jwt_secret": HS256_SECRET, "jwks_url": "http://x/", "jwt_issuer": ISSUER},
            "not both",
        ),
        ({"jwt_secret": "short", "jwt_issuer": ISSUER}, "at least 32 bytes"),
    ],
)
def test_incomplete_jwt_settings_refuse_to_start(values: dict[str, str], message: str) -> None:
    """A half-configured JWT setup is an error, and the error never echoes the secret."""
    with pytest.raises(ValidationError, match=message) as raised:
        Settings(**values)  # type: ignore[arg-type]
    assert HS256_SECRET not in str(raised.value)


def test_a_jwks_yields_only_rs256_and_es256_signing_keys() -> None:
    """Encryption keys, HMAC keys and malformed entries are skipped; the rest keyed by kid."""
    rsa, ec = SigningKey.rsa("r"), SigningKey.ec("e")
    document = {
        "keys": [
            rsa.jwk(),
            ec.jwk(),
            {**SigningKey.rsa("enc").jwk(), "use": "enc"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "kid": "broken"},
            "not a key",
        ]
    }
    keys = jwks.signing_keys(document)
    assert {kid: key.algorithm_name for kid, key in keys.items()} == {"r": "RS256", "e": "ES256"}
    assert jwks.signing_keys({"keys": "nope"}) == {}
    assert jwks.signing_keys([]) == {}


def test_the_cli_refuses_to_start_with_an_issuer_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`taskbell serve` exits 2 with one clear line before it touches anything."""
    monkeypatch.setenv("TASKBELL_JWT_SECRET", HS256_SECRET)
    monkeypatch.delenv("TASKBELL_JWT_ISSUER", raising=False)
    assert cli.main(["serve", "--port", "1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: invalid configuration: TASKBELL_JWT_ISSUER is required")
    assert HS256_SECRET not in error
