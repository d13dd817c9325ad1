"""Depth and alias limits refuse a document every time, also once validation is cached."""

from __future__ import annotations

import pytest

from taskbell.api import build_schema
from taskbell.config import Settings
from taskbell.runtime import Runtime
from taskbell.schema.context import Context

DEEP = "{ projects { tasks { project { tasks { project { tasks { id } } } } } } }"
ALIASED = "{ " + " ".join(f"a{n}: projects {{ id }}" for n in range(6)) + " }"


@pytest.mark.parametrize(("query", "word"), [(DEEP, "depth"), (ALIASED, "alias")])
async def test_limits_hold_on_every_request(rt: Runtime, query: str, word: str) -> None:
    schema = build_schema(Settings(max_query_depth=4, max_aliases=5))
    for _ in range(3):  # the second and third requests may hit the validation cache
        result = await schema.execute(query, context_value=Context(rt, None, "limits"))
        assert result.data is None
        assert result.errors
        assert result.errors[0].extensions is not None
        assert result.errors[0].extensions["code"] == "BAD_USER_INPUT"
        assert word in result.errors[0].message.lower()


async def test_a_document_within_the_limits_is_accepted_repeatedly(rt: Runtime) -> None:
    schema = build_schema(Settings(max_query_depth=4, max_aliases=5))
    for _ in range(3):
        result = await schema.execute(
            "{ login: __typename }", context_value=Context(rt, None, "limits")
        )
        assert result.errors is None
