"""Which clients get application/graphql-response+json, and what counts as a request error."""

from __future__ import annotations

import pytest
from strawberry.http import GraphQLHTTPResponse

from taskbell.web.graphql_http import is_request_error, prefers_graphql_response


@pytest.mark.parametrize(
    "accept",
    [
        "application/graphql-response+json",
        "application/graphql-response+json, application/json;q=0.9",
        "application/json;q=0.9, application/graphql-response+json",
        "application/json, application/graphql-response+json",
        "application/graphql-response+json; charset=utf-8, */*;q=0.1",
    ],
)
def test_clients_that_rank_the_spec_type_first_or_equal_get_it(accept: str) -> None:
    """Apollo Client 4's Accept, and any that ranks it at least as high as JSON."""
    assert prefers_graphql_response(accept)


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/json",
        "application/*",
        "application/json, application/graphql-response+json;q=0.5",
        "application/graphql-response+json;q=0",
        "text/html",
    ],
)
def test_older_clients_keep_application_json(accept: str | None) -> None:
    """No Accept, a wildcard, JSON first, or the spec type refused: JSON as before."""
    assert not prefers_graphql_response(accept)


@pytest.mark.parametrize(
    "accept",
    [
        "text/event-stream",
        "text/event-stream, application/graphql-response+json",
        'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,'
        " application/graphql-response+json",
    ],
)
def test_streaming_requests_are_left_to_their_transports(accept: str) -> None:
    """SSE and multipart belong to their own transports, even if they list the spec type."""
    assert not prefers_graphql_response(accept)


SYNTAX = {"message": "Syntax Error", "locations": [{"line": 1, "column": 3}]}
FIELD = {"message": "No token", "path": ["me"], "extensions": {"code": "UNAUTHENTICATED"}}
INTERNAL = {"message": "Internal server error.", "extensions": {"code": "INTERNAL"}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"data": None, "errors": [SYNTAX]}, True),
        ({"data": None, "errors": [SYNTAX, SYNTAX]}, True),
        ({"data": None, "errors": [FIELD]}, False),  # a non-null root field bubbled up
        ({"data": {"me": None}, "errors": [FIELD]}, False),
        ({"data": None, "errors": [INTERNAL]}, False),  # the server's fault
        ({"data": {"me": {"id": "1"}}}, False),
        ({"data": None}, False),
    ],
)
def test_a_request_error_has_no_data_and_no_field_error(
    body: GraphQLHTTPResponse, expected: bool
) -> None:
    """Only errors from before execution (no path) make a request error."""
    assert is_request_error(body) is expected
