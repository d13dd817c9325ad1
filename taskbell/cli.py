"""The ``taskbell`` console script: serve, db upgrade, user create, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

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

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="alembic upgrade head")

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create = user_commands.add_parser("create", help="create a user and print a token")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--password", help="generated and printed when omitted")

    commands.add_parser("demo", help="seed demo users, projects and tasks (idempotent)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args)
    migrate.upgrade(settings.database_url)
    if args.command == "db":
        print(f"database at head: {settings.database_url}", file=sys.stderr)
        return 0
    if args.command == "user":
        password = args.password or secrets.token_urlsafe(12)
        return _print_json(settings, lambda s: _create_user(s, args.email, args.name, password))
    return _print_json(settings, demo.seed)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from taskbell.app import create_app
    from taskbell.web.server import serve

    migrate.upgrade(settings.database_url)
    base = f"http://{args.host}:{args.port}"
    print(f"TaskBell on {base}/  GraphiQL: {base}/graphql", file=sys.stderr)
    serve(create_app(settings), args.host, args.port)
    return 0


async def _create_user(sessions: Sessions, email: str, name: str, password: str) -> dict[str, Any]:
    user, token = await users.create_user(sessions, email, name, password)
    return users.credentials(user, token, password)


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
