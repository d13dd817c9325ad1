"""graphql-core's subscription executor, as the realtime core uses it (one adapter module).

A grouped subscription is executed through graphql-core against the Strawberry
schema, which stays the one source of truth: validated once, then run once per
event with that event as the root value. ``Executor``, ``collect_fields`` and
``execute_subscription_event`` are graphql-core 3.3 API (pinned in
pyproject.toml); Strawberry's ``Schema._schema`` is the graphql-core schema it
builds, read here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    VariableNode,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import Executor, execute_subscription_event, get_argument_values
from graphql.execution.collect_fields import collect_fields
from graphql.validation import ASTValidationRule
from strawberry.schema import BaseSchema

from taskbell.schema.errors import present_errors

DOCUMENT_CACHE_SIZE = 256


def graphql_schema(schema: BaseSchema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built."""
    built: GraphQLSchema = schema._schema  # type: ignore[attr-defined]
    return built


@dataclass
class Prepared:
    """A subscription operation ready to run per event: its root field and arguments."""

    executor: Executor[Any]
    field: str
    arguments: dict[str, Any]
    cursor_variable: str | None  # the variable that carries ``after``, if any


class Documents:
    """Parse and validate each subscription document once (limits included)."""

    def __init__(
        self, schema: BaseSchema, rules: list[type[ASTValidationRule]], max_tokens: int
    ) -> None:
        self._schema = graphql_schema(schema)
        self._rules = [*specified_rules, *rules]
        self._max_tokens = max_tokens
        self._documents: dict[str, DocumentNode | None] = {}

    def prepare(
        self, query: str, variables: dict[str, Any], operation_name: str | None, context: Any
    ) -> Prepared | None:
        """The operation if it is a valid subscription; None for anything else."""
        document = self._checked(query)
        if document is None:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.SUBSCRIPTION:
            return None
        try:
            executor = Executor.build(
                self._schema,
                document,
                context_value=context,
                raw_variable_values=variables,
                operation_name=operation_name,
            )
        except GraphQLError:
            return None
        if not isinstance(executor, Executor):
            return None  # variables that do not coerce: the ordinary path reports them
        root_type = self._schema.subscription_type
        assert root_type is not None
        fields = collect_fields(
            self._schema, executor.fragments, executor.variable_values, root_type, operation
        ).grouped_field_set
        details = next(iter(fields.values()))
        node = details[0].node
        field_def = root_type.fields[node.name.value]
        try:
            arguments = get_argument_values(field_def, node, executor.variable_values)
        except GraphQLError:
            return None
        cursor_variable = next(
            (
                arg.value.name.value
                for arg in node.arguments or ()
                if arg.name.value == "after" and isinstance(arg.value, VariableNode)
            ),
            None,
        )
        return Prepared(executor, node.name.value, arguments, cursor_variable)

    def _checked(self, query: str) -> DocumentNode | None:
        if query in self._documents:
            return self._documents[query]
        try:
            document: DocumentNode | None = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            document = None
        if document is not None and validate(self._schema, document, self._rules):
            document = None
        if len(self._documents) >= DOCUMENT_CACHE_SIZE:
            self._documents.pop(next(iter(self._documents)))
        self._documents[query] = document
        return document


async def run(executor: Executor[Any], root: object, request_id: str) -> bytes:
    """Execute the operation on one event and encode the result (``{"data":...}``)."""
    result = execute_subscription_event(executor.build_per_event_executor(root))
    if isinstance(result, Awaitable):
        result = await result
    return encode(result.data, result.errors, request_id)


def error_payload(error: BaseException, request_id: str) -> bytes:
    """An execution result that carries ``error`` with its code (masked if unexpected)."""
    message = getattr(error, "message", None) or str(error)
    original = error if isinstance(error, Exception) else None
    return encode(None, [GraphQLError(message, original_error=original)], request_id)


def encode(data: Any, errors: list[GraphQLError] | None, request_id: str) -> bytes:
    body: dict[str, Any] = {"data": data}
    if errors:
        body["errors"] = [e.formatted for e in present_errors(errors, request_id)]
    return json.dumps(body, separators=(",", ":")).encode()
