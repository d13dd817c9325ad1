"""The ``taskbell`` console script: serve, db upgrade, user create, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from taskbell import migrate
from taskbell.config import Settings
from taskbell.db import Sessions, create_engine, create_sessions
from taskbell.errors import DomainError
from taskbell.services import demo, users


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskbell", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations, then serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        help="worker processes sharing the port (needs a redis:// or postgres:// broker)",
    )

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="alembic upgrade head")

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create = user_commands.add_parser("create", help="create a user and print a token")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--password", help="generated and printed when omitted")
    create.add_argument(
        "--token-ttl",
        type=_positive_int,
        metavar="SECONDS",
        help="lifetime of the printed token (default: TASKBELL_TOKEN_TTL_SECONDS)",
    )

    commands.add_parser("demo", help="seed demo users, projects and tasks (idempotent)")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _worker_count(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:  # say what is wrong, not where pydantic noticed it
        problems = "; ".join(p["msg"].removeprefix("Value error, ") for p in error.errors())
        print(f"error: invalid configuration: {problems}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args)
    migrate.upgrade(settings.database_url)
    if args.command == "db":
        print(f"database at head: {settings.database_url}", file=sys.stderr)
        return 0
    if args.command == "user":
        password = args.password or secrets.token_urlsafe(12)
        ttl = args.token_ttl or settings.token_ttl_seconds
        return _print_json(
            settings, lambda s: _create_user(s, args.email, args.name, password, ttl)
        )
    return _print_json(settings, lambda s: demo.seed(s, settings.token_ttl_seconds))


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from taskbell.app import create_app
    from taskbell.web import workers
    from taskbell.web.server import serve

    if refused := workers.refusal(settings, args.workers):
        print(f"error: {refused}", file=sys.stderr)
        return 2
    migrate.upgrade(settings.database_url)
    base = f"http://{args.host}:{args.port}"
    print(f"TaskBell on {base}/  GraphiQL: {base}/graphql", file=sys.stderr)
    if args.workers > 1:
        print(f"{args.workers} worker processes", file=sys.stderr)
        return workers.serve_workers(settings, args.host, args.port, args.workers)
    serve(create_app(settings), args.host, args.port)
    return 0


async def _create_user(
    sessions: Sessions, email: str, name: str, password: str, ttl_seconds: int
) -> dict[str, Any]:
    user, issued = await users.create_user(sessions, email, name, password, ttl_seconds=ttl_seconds)
    return users.credentials(user, issued, password)


def _print_json(settings: Settings, action: Callable[[Sessions], Awaitable[dict[str, Any]]]) -> int:
    async def run() -> dict[str, Any]:
        engine = create_engine(settings)
        try:
            return await action(create_sessions(engine))
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except DomainError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
