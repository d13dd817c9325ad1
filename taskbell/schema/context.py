"""What every resolver receives: the runtime, the caller and per-request loaders."""

from __future__ import annotations

from strawberry.fastapi import BaseContext

from taskbell.errors import Unauthenticated
from taskbell.loaders import Loaders
from taskbell.runtime import Runtime
from taskbell.services.users import Identity


class Context(BaseContext):
    """Built per HTTP request, or once per WebSocket connection."""

    def __init__(self, rt: Runtime, identity: Identity | None, request_id: str) -> None:
        super().__init__()
        self.rt = rt
        self.identity = identity
        self.request_id = request_id
        # Projects whose membership someone else keeps checking (a subscription group).
        self.vouched_projects: frozenset[int] = frozenset()
        self._loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        """Made on first use: most sockets and many requests never need one."""
        if self._loaders is None:
            viewer = self.identity.user.id if self.identity is not None else None
            self._loaders = Loaders(self.rt.sessions, viewer, self.vouched_projects)
        return self._loaders

    @property
    def client_address(self) -> str:
        client = self.request.client if self.request is not None else None
        return client.host if client is not None else "unknown"

    def require_identity(self) -> Identity:
        if self.identity is None:
            raise Unauthenticated("A valid bearer token is required.")
        return self.identity

    def fresh_loaders(self) -> None:
        """A socket lives long; each delivered event gets loaders with an empty cache."""
        self._loaders = None
