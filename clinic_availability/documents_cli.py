"""``clinic-availability documents add|list|remove``: the registered GraphQL documents."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def add_documents_commands(commands: Any, with_session: Any) -> None:
    """The ``documents`` command and its three subcommands, on the CLI's subparsers."""
    documents = commands.add_parser(
        "documents", help="persisted (trusted) GraphQL documents: add a manifest, list, remove"
    )
    actions = documents.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add",
        help="register every document of a manifest: GraphQL Codegen's persisted-documents"
        ".json, Relay's persisted_queries.json or an apollo-persisted-query-manifest",
    )
    add.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add.set_defaults(handler=lambda s, a: _add(s, a, with_session))
    listing = actions.add_parser("list", help="print the registered documents (JSON lines)")
    listing.add_argument("--text", action="store_true", help="include each document's text")
    listing.set_defaults(handler=lambda s, a: _list(s, a, with_session))
    remove = actions.add_parser("remove", help="remove registered documents by id")
    remove.add_argument("ids", nargs="+", metavar="ID")
    remove.set_defaults(handler=lambda s, a: _remove(s, a, with_session))


def _add(settings: Settings, args: argparse.Namespace, with_session: Any) -> int:
    from gql.documents import ManifestError, document_policy, manifest_documents
    from gql.documents import register_manifest as register
    from gql.schema import build_schema, limit_policy

    try:
        documents = []
        for path in args.files:
            documents.extend(manifest_documents(json.loads(path.read_text(encoding="utf-8"))))
    except (OSError, ValueError) as exc:  # ManifestError and JSON errors are ValueErrors
        print(f"clinic-availability: {exc}", file=sys.stderr)
        return 1
    schema = build_schema(settings)._schema
    policy = document_policy(
        limit_policy(settings),
        trusted_only=True,
        exempt_user_ids="",
        cache_seconds=0,
    )

    async def work(session: AsyncSession) -> Any:
        return await register(session, schema, policy, documents)

    try:
        added = asyncio.run(with_session(settings, work))
    except ManifestError as exc:
        print(f"clinic-availability: nothing registered: {exc}", file=sys.stderr)
        return 1
    print(f"{added.added} documents added, {added.unchanged} already registered")
    return 0


def _list(settings: Settings, args: argparse.Namespace, with_session: Any) -> int:
    from models.platform.documents import list_documents

    for document in asyncio.run(with_session(settings, list_documents)):
        line: dict[str, Any] = {
            "id": document.document_id,
            "operationName": document.operation_name,
            "sha256": document.sha256,
            "source": document.source,
        }
        if args.text:
            line["body"] = document.body
        print(json.dumps(line))
    return 0


def _remove(settings: Settings, args: argparse.Namespace, with_session: Any) -> int:
    from models.platform.documents import remove_document

    async def work(session: AsyncSession) -> list[str]:
        return [ident for ident in args.ids if not await remove_document(session, ident)]

    missing = asyncio.run(with_session(settings, work))
    for ident in missing:
        print(f"clinic-availability: no document {ident!r}", file=sys.stderr)
    print(f"{len(args.ids) - len(missing)} documents removed")
    return 1 if missing else 0
