"""``clinic-availability``: serve, deliver webhooks, migrate, create users, seed a demo
clinic, export the schema, register persisted GraphQL documents."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from clinic_availability.audit_view import add_audit_arguments
from clinic_availability.documents_cli import add_documents_commands
from clinic_availability.version import package_version
from common.settings import Settings, get_settings
from models.platform.errors import DomainError, ValidationFailed

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from models.platform.entities import User

T = TypeVar("T")
# prometheus-client's multiprocess mode (the name is the library's).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


async def _with_session(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from models.platform.db import create_engine
    from models.platform.sessions import create_sessionmaker

    engine = create_engine(settings.database_url, behind_pooler=settings.behind_pooler)
    try:
        async with create_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from clinic_availability.migrate import upgrade

    upgrade(settings.migration_url)
    print("database is at the latest schema", file=sys.stderr)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import logging.config

    from clinic_availability.logging import logging_config
    from clinic_availability.migrate import upgrade

    log_config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    # The port first: a server that cannot listen changes nothing (a running demo's
    # token stays valid, no migration runs).
    try:
        listening = listen_on(args.host, args.port)
    except OSError as error:
        print(
            f"clinic-availability: cannot listen on {args.host}:{args.port}: "
            f"{error.strerror or error}. Another server (a demo started earlier?) may be "
            "running there: stop it, or choose another --port.",
            file=sys.stderr,
        )
        return STARTUP_FAILURE
    with listening:
        if args.workers > 1 and settings.is_sqlite:
            logging.getLogger("clinic_availability").warning(
                "several workers on SQLite serialise every write; use PostgreSQL"
            )
        upgrade(settings.migration_url)
        if args.demo:
            _announce_demo(settings, args)
        else:
            _announce(settings, args)
        with shared_metrics_dir(args.workers):
            return _run_uvicorn(settings, args, log_config, listening)


# uvicorn's own exit status for a server that did not start.
STARTUP_FAILURE = 3


def listen_on(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (uvicorn's options), or OSError if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@contextmanager
def shared_metrics_dir(workers: int) -> Iterator[None]:
    """With several workers, a fresh folder their metrics count into; removed afterwards.

    prometheus-client reads ``PROMETHEUS_MULTIPROC_DIR`` when it is imported, which
    happens in each worker process; one set by the operator is used as it is.
    """
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="clinic-metrics-") as folder:
        os.environ[MULTIPROC_ENV] = folder
        logging.getLogger("clinic_availability").info(
            "metrics of all workers are gathered in a shared folder",
            extra={"fields": {"metrics_dir": folder}},
        )
        try:
            yield
        finally:
            del os.environ[MULTIPROC_ENV]


def _run_uvicorn(
    settings: Settings,
    args: argparse.Namespace,
    log_config: dict[str, Any],
    listening: socket.socket,
) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # On SIGTERM or SIGINT uvicorn stops accepting connections, lets requests in flight
    # finish (up to the timeout), then runs the lifespan shutdown (the pool is closed).
    config = uvicorn.Config(
        "clinic_availability.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=20,
        # A worker importing the app on a busy machine can take longer than uvicorn's
        # default 5 s to answer the supervisor's ping; it would be killed and respawned.
        timeout_worker_healthcheck=30,
    )
    server = uvicorn.Server(config)
    # What uvicorn.run does, on the socket already bound.
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[listening]).run()
        else:
            server.run(sockets=[listening])
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        return STARTUP_FAILURE
    return 0


def cmd_dispatch_webhooks(settings: Settings, _args: argparse.Namespace) -> int:
    import logging.config
    import signal

    from clinic_availability.logging import logging_config
    from clinic_availability.webhook_dispatch import dispatch_until

    logging.config.dictConfig(logging_config(settings.log_level))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        assert current is not None

        def on_signal() -> None:
            # The first signal lets the sends in flight finish; a second one cuts them short
            # (their deliveries are sent again when their lease runs out).
            if stop.is_set():
                current.cancel()
            stop.set()

        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, on_signal)
        with contextlib.suppress(asyncio.CancelledError):
            await dispatch_until(settings, stop)

    with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
        runner.run(main())
    return 0


def cmd_sync_calendars(settings: Settings, args: argparse.Namespace) -> int:
    import logging.config
    import signal

    from clinic_availability.calendar_syncs import sync_until
    from clinic_availability.logging import logging_config

    logging.config.dictConfig(logging_config(settings.log_level))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        await sync_until(settings, stop, poll=args.poll_seconds)

    with asyncio.Runner() as runner:
        runner.run(main())
    return 0


def cmd_rotate_calendar_keys(settings: Settings, _args: argparse.Namespace) -> int:
    from common.calendars import secret_box
    from models.integrations.calendar_keys import rotate_calendar_keys
    from models.integrations.calendar_secrets import SecretsUnavailable

    box = secret_box(settings)
    if not box.ready:
        print("clinic-availability: CALENDAR_SECRET_KEYS is not set", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_with_session(settings, lambda s: rotate_calendar_keys(s, box)))
    except SecretsUnavailable as error:
        print(f"clinic-availability: {error}", file=sys.stderr)
        return 2
    print(
        f"external calendars: {report.rotated} secrets sealed again with the first key of "
        f"CALENDAR_SECRET_KEYS, {len(report.unreadable)} that no key opens, "
        f"{report.skipped} changed or deleted meanwhile"
    )
    if report.unreadable:
        listed = ", ".join(str(calendar_id) for calendar_id in report.unreadable)
        print(
            f"no key of CALENDAR_SECRET_KEYS opens the secret of calendars {listed}: keep the "
            "key that sealed them in the list, or connect those calendars again",
            file=sys.stderr,
        )
        return 1
    return 0


def _fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _base_address(args: argparse.Namespace) -> str:
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{args.port}"


def _addresses(base: str, graphiql: str) -> str:
    return (
        f"  GraphiQL{graphiql}\n"
        f"  REST base:                 {base}/v1/admin/clinic/availability\n"
        f"  REST reference:            {base}/docs\n"
    )


def describe_database(settings: Settings) -> str:
    """Where the data lives, for a person: the SQLite file, or the URL without password."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def _database_lines(settings: Settings) -> str:
    from common.settings import data_folder, found_here, sqlite_url

    lines = f"  Database:                  {describe_database(settings)}\n"
    here = found_here()
    if here is not None and settings.database_url == sqlite_url(here):
        lines += (
            f"  ({here.name} found in this folder is used; new clinics go to {data_folder()},\n"
            "   the same from any folder. Move the file there, or set DATABASE_URL.)\n"
        )
    return lines


async def _has_admin(session: AsyncSession) -> bool:
    from sqlalchemy import select

    from models.platform.entities import Role, User

    found = await session.scalar(
        select(User.id).where(User.role == Role.ADMIN, User.active).limit(1)
    )
    return found is not None


def _announce(settings: Settings, args: argparse.Namespace) -> None:
    """The addresses and the database; on a clinic without an admin, how to make one."""
    base = _base_address(args)
    text = (
        f"Clinic Availability serving on {base}\n"
        + _addresses(base, f":                  {base}/graphql")
        + _database_lines(settings)
    )
    if not asyncio.run(_with_session(settings, _has_admin)):
        text += (
            "No admin user yet: every request needs an admin token. Make one (it prints\n"
            "the token last), in another terminal:\n"
            "  clinic-availability create-user --role admin --first-name Ada --last-name Admin\n"
            "or start with --demo for a demo clinic and a token."
        )
    print(text.rstrip("\n"), flush=True)


def _announce_demo(settings: Settings, args: argparse.Namespace) -> None:
    """Readies the demo clinic and prints how to reach it, token included."""
    from clinic_availability.demo import prepare_demo

    report = asyncio.run(_with_session(settings, prepare_demo))
    base = _base_address(args)
    state = "built" if report.built else "ready"
    print(
        f"Demo clinic {state}: {report.slots_created} slots and "
        f"{report.bookings_created} bookings added for the coming two weeks.\n"
        + _addresses(base, f" (token included): {base}/graphql#token={report.token}")
        + _database_lines(settings)
        + "Admin token (send it as X-User-Token or Authorization: Bearer; the previous demo "
        f"token is revoked):\n{report.token}",
        flush=True,
    )


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from models.platform.users import create_user

    expires = timedelta(days=args.expires_in_days) if args.expires_in_days is not None else None

    async def work(session: AsyncSession) -> tuple[User, str]:
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

    upgrade(settings.migration_url)
    summary, token = asyncio.run(_with_session(settings, lambda s: seed_demo(s, settings)))
    print(summary)
    print(token)
    return 0


def cmd_export_schema(settings: Settings, _args: argparse.Namespace) -> int:
    from gql.schema import build_schema

    sys.stdout.write(build_schema(settings).as_str() + "\n")
    return 0


def cmd_extend_recurrences(settings: Settings, _args: argparse.Namespace) -> int:
    from clinic_availability.horizon import extend_once
    from models.platform.db import create_engine
    from models.platform.sessions import create_sessionmaker

    async def work() -> str:
        engine = create_engine(settings.database_url, behind_pooler=settings.behind_pooler)
        try:
            report = await extend_once(create_sessionmaker(engine), settings)
        finally:
            await engine.dispose()
        return (
            f"{report.series_extended} of {report.series_checked} open series extended: "
            f"{report.created} occurrences created, {report.skipped_conflicts} skipped "
            "(clashing with other slots)"
        )

    print(asyncio.run(work()))
    return 0


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from clinic_availability.audit_view import print_audit_log

    return asyncio.run(_with_session(settings, lambda s: print_audit_log(s, args)))


def database_url_of(text: str) -> str:
    """``--database``: a URL as DATABASE_URL takes, or the path of a SQLite file."""
    from common.settings import sqlite_url

    return text if "://" in text else sqlite_url(Path(text).expanduser())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clinic-availability",
        description="Clinic availability admin API. The database comes from --database, "
        "else DATABASE_URL, else SQLite in the per-user data folder.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument(
        "--database",
        metavar="URL_OR_FILE",
        help="the database: a URL (postgresql+asyncpg://..., sqlite+aiosqlite:///...) or a "
        "SQLite file path; overrides DATABASE_URL",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve the API")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="processes (use PostgreSQL for >1)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="fill the database with the demo clinic, mint a demo admin token and print it",
    )
    serve.set_defaults(handler=cmd_serve)

    dispatch = commands.add_parser(
        "dispatch-webhooks",
        help="only deliver webhooks (beside servers run with WEBHOOK_DISPATCHER=false), "
        "until SIGINT or SIGTERM",
    )
    dispatch.set_defaults(handler=cmd_dispatch_webhooks)

    calendars = commands.add_parser(
        "sync-calendars",
        help="only sync external calendars (beside servers run with CALENDAR_SYNC=false; "
        "any number of these at once), until SIGINT or SIGTERM",
    )
    calendars.add_argument(
        "--poll-seconds", type=float, default=5.0, help="how often to look for calendars due"
    )
    calendars.set_defaults(handler=cmd_sync_calendars)

    rotate = commands.add_parser(
        "rotate-calendar-keys",
        help="seal every external calendar's stored secret again with the first key of "
        "CALENDAR_SECRET_KEYS (then the others can be removed); prints counts, never secrets",
    )
    rotate.set_defaults(handler=cmd_rotate_calendar_keys)

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

    extend = commands.add_parser(
        "extend-recurrences",
        help="create recurring series' occurrences up to the rolling horizon (idempotent)",
    )
    extend.set_defaults(handler=cmd_extend_recurrences)

    audit = commands.add_parser("audit", help="print the audit trail, newest first (JSON lines)")
    add_audit_arguments(audit)
    audit.set_defaults(handler=cmd_audit)
    add_documents_commands(commands, _with_session)
    for command in commands.choices.values():
        # Also after the command's name (serve --database ...); absent, the top one holds.
        command.add_argument("--database", metavar="URL_OR_FILE", default=argparse.SUPPRESS)
    return parser


def _describe(error: DomainError) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(
            f"{field} {message}" for field, messages in error.fields.items() for message in messages
        )
    return error.detail


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.database:
        # The environment carries it to the workers uvicorn starts.
        os.environ["DATABASE_URL"] = database_url_of(args.database)
        get_settings.cache_clear()
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    try:
        return handler(get_settings(), args)
    except DomainError as error:
        print(f"clinic-availability: {_describe(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
