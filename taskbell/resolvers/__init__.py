"""Thin GraphQL entry points: unpack arguments, call a service, convert to schema types."""

from taskbell.resolvers import (
    notifications,
    preferences,
    presence,
    projects,
    push,
    realtime,
    tasks,
    users,
    webhooks,
)

__all__ = [
    "notifications",
    "preferences",
    "presence",
    "projects",
    "push",
    "realtime",
    "tasks",
    "users",
    "webhooks",
]
