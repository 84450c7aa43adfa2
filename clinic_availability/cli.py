"""``clinic-availability``: serve, migrate, create users, seed a demo clinic, export the schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from clinic_availability.settings import Settings, get_settings

T = TypeVar("T")


async def _with_session(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from models.db import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from clinic_availability.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the latest schema", file=sys.stderr)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from clinic_availability.migrate import upgrade

    upgrade(settings.database_url)
    uvicorn.run(
        "clinic_availability.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        timeout_graceful_shutdown=20,
    )
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from models.users import create_user

    expires = timedelta(days=args.expires_in_days) if args.expires_in_days else None

    async def work(session):  # type: ignore[no-untyped-def]
        return await create_user(
            session,
            role=args.role,
            first_name=args.first_name,
            last_name=args.last_name,
            expires_in=expires,
        )

    user, token = asyncio.run(_with_session(settings, work))
    print(f"created {user.role.value} user {user.id} ({user.first_name} {user.last_name})")
    print(token)
    return 0


def cmd_seed_demo(settings: Settings, _args: argparse.Namespace) -> int:
    from clinic_availability.demo import seed_demo
    from clinic_availability.migrate import upgrade

    upgrade(settings.database_url)
    summary, token = asyncio.run(_with_session(settings, lambda s: seed_demo(s, settings)))
    print(summary)
    print(token)
    return 0


def cmd_export_schema(settings: Settings, _args: argparse.Namespace) -> int:
    from gql.schema import build_schema

    sys.stdout.write(build_schema(settings).as_str() + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clinic-availability",
        description="Clinic availability admin API. The database comes from DATABASE_URL.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="processes (use PostgreSQL for >1)")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    create_user = commands.add_parser("create-user", help="create a user; prints its token last")
    create_user.add_argument("--role", required=True, choices=["admin", "provider", "patient"])
    create_user.add_argument("--first-name", required=True)
    create_user.add_argument("--last-name", required=True)
    create_user.add_argument("--expires-in-days", type=int, default=None)
    create_user.set_defaults(handler=cmd_create_user)

    seed = commands.add_parser("seed-demo", help="a small demo clinic; prints an admin token last")
    seed.set_defaults(handler=cmd_seed_demo)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(handler=cmd_export_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    return handler(get_settings(), args)


if __name__ == "__main__":
    raise SystemExit(main())
