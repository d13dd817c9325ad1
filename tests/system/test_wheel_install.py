"""A built wheel is a complete install: served from a fresh venv outside the source tree,
GraphiQL renders from the wheel's own assets (fetched at build time, never committed)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

from tests.conftest import skip_or_fail
from tests.support.processes import REPO_ROOT, TaskBellProcess, sqlite_url

BUILD_SECONDS = 600
# What a clean checkout lacks: the fetched assets above all, so the build must fetch them.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "vendor", "build", "dist", "*.egg-info", "__pycache__", "node_modules",
    ".*_cache", "*.db", "*.db-*", "results",
)  # fmt: skip
ASSET_URL = re.compile(r'<(?:script|link)\b[^>]*?\s(?:src|href)="([^"]+)"')


async def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        *map(str, command), cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), BUILD_SECONDS)
    assert process.returncode == 0, f"{command} failed:\n{output.decode(errors='replace')[-4000:]}"


def outside_the_tree() -> dict[str, str]:
    """This environment without anything that would point Python at the source tree."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


async def test_a_wheel_installed_elsewhere_serves_graphiql_from_its_own_assets(
    tmp_path: Path,
) -> None:
    """Build the wheel from a copy of the sources, install it in a new venv, serve, and
    load every script and stylesheet GraphiQL's page names: all local, all 200."""
    if shutil.which("npm") is None:
        skip_or_fail("npm is missing: the build cannot fetch GraphiQL's assets")
    source, dist, venv = tmp_path / "source", tmp_path / "dist", tmp_path / "venv"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCE)
    env = outside_the_tree()
    await run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ".", cwd=source)
    (wheel,) = dist.glob("taskbell-*.whl")
    await run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env)
    await run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path, env=env)
    shutil.rmtree(source)  # nothing may come from the sources now

    env["TASKBELL_DATABASE_URL"] = sqlite_url(tmp_path)
    env["TASKBELL_BROADCAST_URL"] = "memory://"
    server = TaskBellProcess(env, tmp_path, command=(str(venv / "bin" / "taskbell"),))
    await server.start()
    try:
        async with server.client() as http:
            page = await http.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert "graphiql" in page.text.lower()
            urls = [url for url in ASSET_URL.findall(page.text) if not url.startswith("data:")]
            assert urls, page.text
            assert all(url.startswith("/static/vendor/") for url in urls), urls
            for url in urls:
                assert (await http.get(url)).status_code == 200, url
            assert "unpkg" not in page.headers["content-security-policy"]
            # The email templates ship too: the unsubscribe page renders from them.
            unsubscribe = await http.get("/email/unsubscribe", params={"token": "unknown"})
            assert unsubscribe.status_code == 404
            assert "not valid" in unsubscribe.text
    finally:
        await server.stop()
