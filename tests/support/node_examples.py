"""Run the Node examples under examples/ (real npm clients) and read their JSON summary.

Each example is its own npm package; a missing `node` or an example not installed with
`npm ci --prefix examples/<name>` skips the test (fails under CI=true).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import skip_or_fail
from tests.support.processes import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
RUN_SECONDS = 60


def installed_example(name: str) -> tuple[str, Path]:
    """The `node` executable and the example's folder, or skip/fail saying what is missing."""
    node = shutil.which("node")
    if node is None:
        skip_or_fail(f"node is not installed (examples/{name} needs Node.js 20+)")
    folder = EXAMPLES / name
    if not (folder / "node_modules").is_dir():
        skip_or_fail(f"examples/{name} is not installed (npm ci --prefix examples/{name})")
    return node, folder


async def run_example(name: str, script: str, env: dict[str, str]) -> dict[str, Any]:
    """Run `script` in examples/<name> with `env` added; it must exit 0 and print one JSON
    object (its summary), which is returned."""
    node, folder = installed_example(name)
    process = await asyncio.create_subprocess_exec(
        node, script, cwd=folder, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode()
    summary: dict[str, Any] = json.loads(stdout)
    return summary
