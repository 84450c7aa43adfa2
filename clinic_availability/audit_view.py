"""The ``audit`` command: the audit trail as JSON lines, newest first."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.timeutil import format_timestamp, parse_timestamp


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entity", help="available_slot, booking, provider, patient, ...")
    parser.add_argument("--entity-id", type=int)
    parser.add_argument("--user-id", type=int)
    parser.add_argument("--action", help="create, update, delete or read_notes")
    parser.add_argument("--since", help="ISO 8601 instant; entries at or after it")
    parser.add_argument("--limit", type=int, default=100, help="at most this many (100)")


async def print_audit_log(session: AsyncSession, args: argparse.Namespace) -> int:
    from models.platform.audit import audit_log

    since: datetime | None = None
    if args.since:
        since = parse_timestamp(args.since)
        if since is None:
            print(f"--since: not an ISO 8601 instant: {args.since!r}", file=sys.stderr)
            return 2
    entries = await audit_log(
        session,
        entity=args.entity,
        entity_id=args.entity_id,
        user_id=args.user_id,
        action=args.action,
        since=since,
        limit=args.limit,
    )
    for entry in entries:
        line = {
            "id": entry.id,
            "occurred_at": format_timestamp(entry.occurred_at),
            "user_id": entry.user_id,
            "token_id": entry.token_id,
            "action": entry.action,
            "entity": entry.entity,
            "entity_id": entry.entity_id,
            "changed_fields": entry.changed_fields,
            "request_id": entry.request_id,
        }
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
    return 0
