"""With TASKBELL_ALLOW_PRIVATE_DESTINATIONS off (the default stack), createWebhook refuses
URLs that are not http(s) or lead inside the network, and creates nothing."""

from __future__ import annotations

from .support import ApiFactory, Team

CREATE = """mutation ($p: ID!, $url: String!) {
  createWebhook(projectId: $p, url: $url) { id url }
}"""
WEBHOOKS = "query ($p: ID!) { webhooks(projectId: $p) { id url } }"
DELETE = "mutation ($id: ID!) { deleteWebhook(id: $id) }"
# A public address, given literally: accepted without DNS, and never sent to here.
PUBLIC_URL = "https://93.184.215.14/hook"


REFUSED = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/hook",
    "ftp://93.184.215.14/hook",
    "not a url",
    "/relative/hook",
]


async def test_private_or_non_http_urls_are_refused_and_nothing_is_created(
    api: ApiFactory, team: Team
) -> None:
    """BAD_USER_INPUT for each, and the project's webhooks stay as they were."""
    owner = api(team.owner.token)
    for url in REFUSED:
        refused = await owner.execute(CREATE, p=team.project_id, url=url)
        assert (refused.codes, refused.data) == (["BAD_USER_INPUT"], None), url
    assert (await owner.execute(WEBHOOKS, p=team.project_id)).ok() == {"webhooks": []}


async def test_a_public_url_is_accepted_by_the_same_server(api: ApiFactory, team: Team) -> None:
    """The positive case for the refusals above: the rule lets public addresses through."""
    owner = api(team.owner.token)
    created = (await owner.execute(CREATE, p=team.project_id, url=PUBLIC_URL)).ok()
    hook = created["createWebhook"]
    listed = (await owner.execute(WEBHOOKS, p=team.project_id)).ok()
    assert listed == {"webhooks": [{"id": hook["id"], "url": PUBLIC_URL}]}
    assert (await owner.execute(DELETE, id=hook["id"])).ok() == {"deleteWebhook": True}
