"""GraphQL over HTTP as the spec has it: ``application/graphql-response+json``, by Accept.

A client that prefers that media type (Apollo Client 4 does) gets it, with the spec's
status codes: 400, and no ``data`` key, when the request itself is in error (the document
does not parse or validate, or the variables do not coerce); 200 otherwise, field errors
included. ``application/json`` (no Accept, ``*/*``, ``application/json``) stays as it was:
always 200. Requests that accept a streaming type are left to their transports.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.requests import Request
from starlette.responses import Response
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse

from taskbell.schema.context import Context

GRAPHQL_RESPONSE = "application/graphql-response+json"
CONTENT_TYPE = f"{GRAPHQL_RESPONSE}; charset=utf-8"
JSON_RANGES = ("application/json", "application/*", "*/*")
STREAMING = ("text/event-stream", "multipart/mixed")
# Strawberry builds the response without the request; the choice travels with the
# request's task from `get_sub_response` (called first, per request) to `create_response`.
_answer_spec: ContextVar[bool] = ContextVar("taskbell_graphql_response", default=False)
# Where ``web.graphql_route`` puts a POST's sub-response (FastAPI's route shares one
# attribute of the router between concurrent requests instead).
SUB_RESPONSE = "taskbell.sub_response"


def prefers_graphql_response(accept: str | None) -> bool:
    """Whether ``accept`` ranks graphql-response+json at least as high as JSON (q > 0)."""
    spec = json = 0.0
    for item in (accept or "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        media = media.lower()
        if media in STREAMING:
            return False
        quality = _quality(params)
        if media == GRAPHQL_RESPONSE:
            spec = max(spec, quality)
        elif media in JSON_RANGES:
            json = max(json, quality)
    return spec > 0 and spec >= json


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def is_request_error(body: GraphQLHTTPResponse) -> bool:
    """No data and no error of a field (those have a ``path``): the request failed before
    execution. An internal failure is the server's fault, not the request's."""
    errors = body.get("errors") or []
    return (
        body.get("data") is None
        and bool(errors)
        and not any(
            not isinstance(error, dict)
            or "path" in error
            or (error.get("extensions") or {}).get("code") == "INTERNAL"
            for error in errors
        )
    )


class GraphQLOverHTTPRouter(GraphQLRouter[Context, None]):
    """Strawberry's router, answering graphql-response+json to the clients that ask for it."""

    async def get_sub_response(self, request: Request) -> Response:
        _answer_spec.set(prefers_graphql_response(request.headers.get("accept")))
        own: Response | None = request.scope.get(SUB_RESPONSE)
        return own if own is not None else await super().get_sub_response(request)

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        if not _answer_spec.get() or isinstance(response_data, list):
            return super().create_response(response_data, sub_response)
        body: dict[str, object] = dict(response_data)
        status = sub_response.status_code or 200
        if is_request_error(response_data):
            body.pop("data", None)  # the spec: a request error has no data entry at all
            status = 400
        response = Response(self.encode_json(body), status, media_type=CONTENT_TYPE)
        response.headers.raw.extend(sub_response.headers.raw)
        return response
