"""GraphQL over HTTP by Accept: graphql-response+json with the spec's status codes for the
clients that ask for it, application/json exactly as before for the others."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .support import ME, ApiFactory, Team, read_state

GRAPHQL_RESPONSE = "application/graphql-response+json"
APOLLO_ACCEPT = "application/graphql-response+json, application/json;q=0.9"
# What older clients send: nothing, anything, or JSON; all get application/json.
LEGACY_ACCEPTS = [None, "*/*", "application/json"]
UPDATE = """mutation ($taskId: ID!, $status: TaskStatus!) {
  updateTaskStatus(taskId: $taskId, status: $status) { id status }
}"""


async def post(
    http: httpx.AsyncClient,
    accept: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> httpx.Response:
    headers = {"Accept": accept} if accept is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"query": query, "variables": variables or {}}
    return await http.post("/graphql", json=body, headers=headers)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


REQUEST_ERRORS = {
    "parse error": ("query { me { id", None),
    "validation error": ("query { noSuchField }", None),
    "bad variable": (UPDATE, {"taskId": "1", "status": "NOT_A_STATUS"}),
    "missing variable": (UPDATE, {"taskId": "1"}),
}


@pytest.mark.parametrize("case", REQUEST_ERRORS)
async def test_a_request_error_is_400_without_data_for_graphql_response_json(
    http: httpx.AsyncClient, case: str
) -> None:
    """A document that does not parse or validate, or variables that do not coerce: 400,
    the spec's media type, errors and no data entry at all."""
    query, variables = REQUEST_ERRORS[case]
    response = await post(http, APOLLO_ACCEPT, query, variables)
    assert response.status_code == 400, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert body["errors"]


@pytest.mark.parametrize("accept", LEGACY_ACCEPTS)
@pytest.mark.parametrize("case", REQUEST_ERRORS)
async def test_a_request_error_stays_200_with_null_data_for_application_json(
    http: httpx.AsyncClient, case: str, accept: str | None
) -> None:
    """Older clients see what they always saw: 200, application/json, data null."""
    query, variables = REQUEST_ERRORS[case]
    response = await post(http, accept, query, variables)
    assert response.status_code == 200, response.text
    assert media_type(response) == "application/json"
    body = response.json()
    assert body["data"] is None
    assert body["errors"]


@pytest.mark.parametrize("accept", [APOLLO_ACCEPT, *LEGACY_ACCEPTS])
async def test_a_field_error_is_200_with_its_data_entry_for_both_media_types(
    http: httpx.AsyncClient, accept: str | None
) -> None:
    """A resolver's error (here: no token) is a field error: 200 and a data entry, always."""
    response = await post(http, accept, ME)
    assert response.status_code == 200, response.text
    expected = GRAPHQL_RESPONSE if accept == APOLLO_ACCEPT else "application/json"
    assert media_type(response) == expected
    body = response.json()
    assert "data" in body
    assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["errors"][0]["path"] == ["me"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (APOLLO_ACCEPT, GRAPHQL_RESPONSE),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/json, application/graphql-response+json;q=0.5", "application/json"),
    ],
)
async def test_a_success_is_200_in_the_media_type_the_client_prefers(
    http: httpx.AsyncClient, team: Team, accept: str | None, expected: str
) -> None:
    """The same data either way; only the media type follows Accept."""
    response = await post(http, accept, ME, token=team.owner.token)
    assert response.status_code == 200, response.text
    assert media_type(response) == expected
    assert response.json() == {"data": {"me": _me(team)}}


def _me(team: Team) -> dict[str, str]:
    owner = team.owner
    return {"id": owner.id, "email": owner.email, "name": owner.name}


async def test_a_mutation_with_a_bad_variable_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, api: ApiFactory, team: Team
) -> None:
    """400 for the spec's clients, and the task keeps its status."""
    before = await read_state(api, team)
    variables = {"taskId": team.task.id, "status": "NOT_A_STATUS"}
    response = await post(http, APOLLO_ACCEPT, UPDATE, variables, token=team.owner.token)
    assert response.status_code == 400, response.text
    assert "data" not in response.json()
    assert await read_state(api, team) == before
