"""Thin GraphQL entry points: unpack arguments, call a service, convert to schema types."""

from taskbell.resolvers import (
    notifications,
    preferences,
    projects,
    realtime,
    tasks,
    users,
    webhooks,
)

__all__ = ["notifications", "preferences", "projects", "realtime", "tasks", "users", "webhooks"]
