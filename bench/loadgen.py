"""The driver's handle on ``loadgen.mjs``: one JSON command per line in, one JSON reply out."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from pathlib import Path
from typing import Any

import procs

HERE = Path(__file__).resolve().parent


class LoadGenError(RuntimeError):
    pass


class LoadGen:
    """The Node load generator, pinned to the generator core."""

    def __init__(self, child: procs.Child) -> None:
        self.child = child
        self._ids = itertools.count(1)

    @classmethod
    async def start(cls, log_dir: Path) -> LoadGen:
        child = await procs.start(
            "loadgen",
            ["node", str(HERE / "loadgen.mjs")],
            core=procs.GENERATOR_CORE,
            log_dir=log_dir,
            cwd=HERE,
            pipes=True,
        )
        return cls(child)

    @property
    def pid(self) -> int:
        return self.child.pid

    async def call(self, op: str, limit: float, **args: Any) -> dict[str, Any]:
        """Run one command; the generator bounds its own phases, ``limit`` (s) is the backstop."""
        process = self.child.process
        assert process.stdin is not None
        assert process.stdout is not None
        command_id = next(self._ids)
        process.stdin.write(json.dumps({"id": command_id, "op": op, **args}).encode() + b"\n")
        await process.stdin.drain()
        async with asyncio.timeout(limit):
            while True:
                line = await process.stdout.readline()
                if not line:
                    raise LoadGenError(f"load generator exited:\n{self.child.log_tail()}")
                reply = json.loads(line)
                if reply.get("id") == command_id:
                    break
        if not reply["ok"]:
            raise LoadGenError(f"{op}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def stop(self) -> None:
        if self.child.alive():
            with contextlib.suppress(LoadGenError, TimeoutError, OSError):
                await self.call("quit", limit=5)
        await self.child.stop()
