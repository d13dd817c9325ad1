"""The GraphQL API: root Query, Mutation and Subscription, and the schema with its limits.

The one module above ``resolvers``: ``schema/`` holds the object types (a leaf),
resolvers import those, and only this module imports resolvers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from taskbell import resolvers
from taskbell.config import Settings
from taskbell.schema import types
from taskbell.schema.errors import ErrorCodes
from taskbell.schema.preferences import NotificationPreferences, ProjectNotificationSetting
from taskbell.schema.presence import PresenceDiff
from taskbell.schema.webhooks import WebhookEndpoint

# The subscription fields the realtime core serves, on every transport.
LIVE_FIELDS = (*resolvers.realtime.LIVE_FIELDS, resolvers.presence.PRESENCE_CHANGED)


@strawberry.type
class Query:
    me: types.User = strawberry.field(
        resolver=resolvers.users.me,
        description=(
            "The caller. Every Query/Mutation/Subscription field except login needs a valid token."
        ),
    )
    projects: list[types.Project] = strawberry.field(
        resolver=resolvers.projects.list_projects, description="Projects the caller is a member of."
    )
    project: types.Project | None = strawberry.field(
        resolver=resolvers.projects.project,
        description="Null when it does not exist or the caller is not a member.",
    )
    task: types.Task | None = strawberry.field(
        resolver=resolvers.tasks.task,
        description="Null when it does not exist or the caller is not a member of its project.",
    )
    tasks: list[types.Task] = strawberry.field(
        resolver=resolvers.tasks.list_tasks,
        description="A project's tasks; NOT_FOUND for non-members.",
    )
    notifications: types.NotificationConnection = strawberry.field(
        resolver=resolvers.notifications.list_notifications,
        description="The caller's notifications, newest first.",
    )
    unread_notification_count: int = strawberry.field(
        resolver=resolvers.notifications.unread_notification_count
    )
    realtime_stats: types.RealtimeStats = strawberry.field(
        resolver=resolvers.realtime.realtime_stats,
        description="Live connections and subscriptions on the server process that answers.",
    )
    webhooks: list[WebhookEndpoint] = strawberry.field(
        resolver=resolvers.webhooks.list_webhooks,
        description="The project's webhooks; FORBIDDEN for non-members.",
    )
    web_push_public_key: str | None = strawberry.field(
        resolver=resolvers.push.web_push_public_key,
        description=(
            "Base64url uncompressed P-256 VAPID public key for PushManager.subscribe (keys are "
            "generated once when not configured, so it is set by default)."
        ),
    )
    notification_preferences: NotificationPreferences = strawberry.field(
        resolver=resolvers.preferences.notification_preferences,
        description="The caller's notification settings, with every project of theirs.",
    )


@strawberry.type
class Mutation:
    login: types.AuthPayload = strawberry.mutation(
        resolver=resolvers.users.login, description="Exchange email + password for a bearer token."
    )
    update_task_status: types.Task = strawberry.mutation(
        resolver=resolvers.tasks.update_task_status,
        description=(
            "Persist the change, record a Notification for every other project member whose "
            "notification level lets it through, "
            "commit, then publish one TaskStatusEvent. Setting the current status again is "
            "a no-op that returns the task unchanged and publishes nothing. expectedVersion, "
            "when given and not equal to the task's version: CONFLICT."
        ),
    )
    mark_notifications_read: int = strawberry.mutation(
        resolver=resolvers.notifications.mark_notifications_read,
        description=(
            "Mark the caller's notifications read (all of them when ids is omitted); "
            "returns how many changed."
        ),
    )
    create_project: types.Project = strawberry.mutation(
        resolver=resolvers.projects.create_project,
        description="Create a project; the caller joins it.",
    )
    add_project_member: types.Project = strawberry.mutation(
        resolver=resolvers.projects.add_project_member,
        description="Caller must be a member of the project. The new member is found by email.",
    )
    create_task: types.Task = strawberry.mutation(resolver=resolvers.tasks.create_task)
    remove_project_member: types.Project = strawberry.mutation(
        resolver=resolvers.projects.remove_project_member,
        description=(
            "Caller must be a member. The removed user's live subscriptions to this project end."
        ),
    )
    logout: bool = strawberry.mutation(
        resolver=resolvers.users.logout,
        description="Revoke the token this request carries; live subscriptions opened with it end.",
    )
    create_webhook: WebhookEndpoint = strawberry.mutation(
        resolver=resolvers.webhooks.create_webhook,
        description=(
            "Any member of the project; BAD_USER_INPUT for a URL that is not http(s) or whose "
            "host resolves to a private address (see TASKBELL_ALLOW_PRIVATE_DESTINATIONS)."
        ),
    )
    delete_webhook: bool = strawberry.mutation(
        resolver=resolvers.webhooks.delete_webhook,
        description="Delete a webhook of one of the caller's projects, and its pending deliveries.",
    )
    set_editing: bool = strawberry.mutation(
        resolver=resolvers.presence.set_editing,
        description=(
            "Mark the caller as editing (true) or no longer editing (false) a task; lapses after "
            "TASKBELL_EDITING_TTL_SECONDS unless renewed."
        ),
    )
    register_push_subscription: bool = strawberry.mutation(
        resolver=resolvers.push.register_push_subscription,
        description=(
            "Keys as PushSubscription.toJSON() gives them (base64url). Idempotent per endpoint; "
            "an endpoint registered by someone else moves to the caller. BAD_USER_INPUT for bad "
            "keys or an endpoint that is not https:// to a public host (see "
            "TASKBELL_ALLOW_PRIVATE_DESTINATIONS)."
        ),
    )
    unregister_push_subscription: bool = strawberry.mutation(
        resolver=resolvers.push.unregister_push_subscription,
        description="Forget one of the caller's browsers; false when it was not registered.",
    )
    update_notification_preferences: NotificationPreferences = strawberry.mutation(
        resolver=resolvers.preferences.update_notification_preferences,
        description=(
            "Change what is given. timeZone: an IANA name (BAD_USER_INPUT otherwise); a new "
            "email mode or zone moves the caller's next email."
        ),
    )
    set_project_notification_level: ProjectNotificationSetting = strawberry.mutation(
        resolver=resolvers.preferences.set_project_notification_level,
        description=(
            "The caller's level in one of their projects (FORBIDDEN otherwise), for the "
            "changes committed after it."
        ),
    )


@strawberry.type
class Subscription:
    task_status_updated: AsyncGenerator[types.TaskStatusEvent, None] = strawberry.subscription(
        resolver=resolvers.realtime.task_status_updated,
        description=(
            "Status changes in the given projects; all of the caller's projects when "
            "projectIds is omitted. A project the caller is not a member of: FORBIDDEN. "
            "With after: first every event committed after that cursor (in these projects), "
            "then live events, with no gap and no duplicate between the two."
        ),
    )
    notification_received: AsyncGenerator[types.Notification, None] = strawberry.subscription(
        resolver=resolvers.realtime.notification_received,
        description=(
            "The caller's new notifications, as they are recorded, in the order they were "
            "committed. v2: with after (a Notification.cursor), first every notification of "
            "the caller recorded after that one, then live ones, with no gap and no duplicate."
        ),
    )
    presence_changed: AsyncGenerator[PresenceDiff, None] = strawberry.subscription(
        resolver=resolvers.presence.presence_changed,
        description=(
            "Presence diffs of the given projects (all of the caller's when omitted), at most "
            "one per project per TASKBELL_PRESENCE_INTERVAL_SECONDS."
        ),
    )


class TaskBellSchema(strawberry.Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Single-result execution (plain HTTP): a subscription needs a stream.

        Subscriptions come over a WebSocket or an HTTP stream (graphql-sse,
        multipart); Strawberry would run one here and fail inside ("cannot
        return null"), so refusing it up front gives the client a clear 400.
        """
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed - {OperationType.SUBSCRIPTION},
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Expected errors are the client's business; ErrorCodes logs the unexpected ones."""


def query_limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The configured depth and alias limits, as validation rules.

    Made once per schema: ValidationCache keys on the rule classes, and a
    limiter built per request makes new classes, so nothing would ever hit.
    """
    return [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the configured depth, alias and token limits."""
    settings = settings or Settings()
    rules = query_limit_rules(settings)
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        ErrorCodes,
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        # Clients send the same few documents over and over: parse and validate once.
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ]
    return TaskBellSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
