"""The parts of broadcaster 0.3 that it does not export publicly, in one place.

broadcaster is TaskBell's broker interface; its backend base class, its memory
backend and the ``Unsubscribed`` signal live in private modules. Pinned to
``broadcaster>=0.3.1,<0.4`` in pyproject.toml for that reason.
"""

from __future__ import annotations

from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from broadcaster._base import Unsubscribed

__all__ = ["BroadcastBackend", "MemoryBackend", "Unsubscribed"]
