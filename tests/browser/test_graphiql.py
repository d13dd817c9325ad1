"""GraphiQL at /graphql, offline: it renders from TaskBell's own assets and runs a subscription."""

from __future__ import annotations

import json

import httpx

from taskbell.web import graphiql
from tests.conftest import skip_or_fail

from .server import ApiAs, Demo, Server, move, status_message, task_ids, wait_for_subscriptions
from .support import NewPage, Route, expect, replace_editor_text

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:visible .CodeMirror"
EXECUTE = "Execute query (Ctrl-Enter)"
SUBSCRIPTION = """subscription WatchTasks {
  taskStatusUpdated { message newStatus task { id status version } }
}"""


async def test_graphiql_renders_offline_and_runs_a_subscription_with_a_header_token(
    server: Server, demo: Demo, api: ApiAs, http: httpx.AsyncClient, new_page: NewPage
) -> None:
    """With other hosts unreachable, Bob's token in the Headers tab runs a live subscription."""
    page_html = (await http.get("/graphql", headers={"Accept": "text/html"})).text
    if graphiql.CDN_PREFIX in page_html:
        skip_or_fail("GraphiQL's assets are not installed (reinstall with npm on the PATH)")
    alice, bob = demo.users["alice"], demo.users["bob"]
    page = await new_page("graphiql")
    elsewhere: list[str] = []

    async def only_this_server(route: Route) -> None:
        if route.request.url.startswith(server.base_url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    await page.context.route("**/*", only_this_server)
    await page.goto(f"{server.base_url}/graphql")
    await expect(page.get_by_role("button", name=EXECUTE)).to_be_visible()

    await page.get_by_role("button", name="Headers").click()
    headers = json.dumps({"Authorization": f"Bearer {bob.token}"})
    await replace_editor_text(page, HEADERS_EDITOR, headers)
    await replace_editor_text(page, QUERY_EDITOR, SUBSCRIPTION)
    # GraphiQL reads the operation from its parsed document, which it updates (and stores)
    # shortly after an edit: run only once both edits have landed.
    await page.wait_for_function(
        """token => localStorage.getItem("graphiql:operationName") === "WatchTasks"
                 && (localStorage.getItem("graphiql:headers") || "").includes(token)""",
        arg=bob.token,
    )
    await page.get_by_role("button", name=EXECUTE).click()
    await wait_for_subscriptions(http, 1)
    await move(api(alice), (await task_ids(api(alice)))["Set up analytics"], "IN_REVIEW")

    message = status_message(alice, "Set up analytics", "TODO", "IN_REVIEW")
    await expect(page.locator(".result-window")).to_contain_text(message)
    assert elsewhere == []
