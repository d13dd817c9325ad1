"""With TASKBELL_ALLOW_PRIVATE_DESTINATIONS off (the default stack), registerPushSubscription
takes https:// endpoints on public addresses only, and well-formed keys only; a refusal
registers nothing."""

from __future__ import annotations

import base64

from tests.support.push_receiver import PushService

from .support import ApiFactory, Team

REGISTER = """mutation ($endpoint: String!, $p256dh: String!, $auth: String!) {
  registerPushSubscription(endpoint: $endpoint, p256dh: $p256dh, auth: $auth)
}"""
UNREGISTER = "mutation ($endpoint: String!) { unregisterPushSubscription(endpoint: $endpoint) }"
PUBLIC_KEY = "query { webPushPublicKey }"
# A public address, given literally: accepted without DNS, and never sent to here.
PUBLIC_ENDPOINT = "https://93.184.215.14/push/abc"
REFUSED = [
    "http://127.0.0.1:8000/push",
    "https://127.0.0.1/push",
    "https://localhost/push",
    "https://[::1]/push",
    "https://10.1.2.3/push",
    "https://169.254.169.254/push",
    "http://93.184.215.14/push",  # public, but push endpoints are https only
    "not a url",
]


async def test_private_or_plain_http_endpoints_are_refused_and_nothing_is_registered(
    api: ApiFactory, team: Team
) -> None:
    """BAD_USER_INPUT for each; unregistering each afterwards finds nothing."""
    member = api(team.member.token)
    browser = PushService(port=9).browser("x")
    for endpoint in REFUSED:
        refused = await member.execute(
            REGISTER, endpoint=endpoint, p256dh=browser.p256dh, auth=browser.auth
        )
        assert (refused.codes, refused.data) == (["BAD_USER_INPUT"], None), endpoint
        gone = await member.execute(UNREGISTER, endpoint=endpoint)
        assert gone.ok() == {"unregisterPushSubscription": False}


async def test_bad_keys_are_refused(api: ApiFactory, team: Team) -> None:
    """p256dh must be a P-256 point, auth 16 bytes; nothing is registered meanwhile."""
    member = api(team.member.token)
    browser = PushService(port=9).browser("x")
    not_a_point = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()
    for p256dh, auth in [(not_a_point, browser.auth), (browser.p256dh, "AAAA")]:
        refused = await member.execute(REGISTER, endpoint=PUBLIC_ENDPOINT, p256dh=p256dh, auth=auth)
        assert refused.codes == ["BAD_USER_INPUT"]
    gone = await member.execute(UNREGISTER, endpoint=PUBLIC_ENDPOINT)
    assert gone.ok() == {"unregisterPushSubscription": False}


async def test_a_public_https_endpoint_is_accepted_by_the_same_server(
    api: ApiFactory, team: Team
) -> None:
    """The positive case for the refusals above."""
    member = api(team.member.token)
    browser = PushService(port=9).browser("x")
    done = await member.execute(
        REGISTER, endpoint=PUBLIC_ENDPOINT, p256dh=browser.p256dh, auth=browser.auth
    )
    assert done.ok() == {"registerPushSubscription": True}
    gone = await member.execute(UNREGISTER, endpoint=PUBLIC_ENDPOINT)
    assert gone.ok() == {"unregisterPushSubscription": True}


async def test_the_public_key_is_an_uncompressed_p256_point_for_signed_in_callers(
    api: ApiFactory, team: Team
) -> None:
    """Set by default (generated once), the same for everyone; anonymous: UNAUTHENTICATED."""
    first = (await api(team.member.token).execute(PUBLIC_KEY)).ok()["webPushPublicKey"]
    second = (await api(team.owner.token).execute(PUBLIC_KEY)).ok()["webPushPublicKey"]
    assert first == second
    raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    assert (len(raw), raw[0]) == (65, 4)
    assert "=" not in first
    assert (await api(None).execute(PUBLIC_KEY)).codes == ["UNAUTHENTICATED"]
    anonymous = await api(None).execute(REGISTER, endpoint=PUBLIC_ENDPOINT, p256dh="a", auth="b")
    assert anonymous.codes == ["UNAUTHENTICATED"]
