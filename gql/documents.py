"""Persisted and trusted documents: which document text a request runs.

A request names its document in one of three ways:

- ``documentId`` (GraphQL over HTTP, Appendix A): a registered document's opaque id, or
  ``sha256:<hex>`` for the registered document of that hash;
- ``extensions.persistedQuery.sha256Hash`` (Apollo's automatic persisted queries): the
  hash alone runs a known document, or answers ``PERSISTED_QUERY_NOT_FOUND`` as Apollo
  Server does (status 200), after which the client sends hash and text, and the text is
  registered once its SHA-256 matches and it validates;
- ``query``: the text itself, refused (``TRUSTED_DOCUMENT_REQUIRED``) under
  ``GRAPHQL_TRUSTED_DOCUMENTS=only`` unless it is registered or the caller is exempt.

``DocumentRegistry.resolve`` is the one entry point, for every path that serves GraphQL
over HTTP; its caller has authenticated the request first. Documents found are kept per
process (LRU, for a bounded time), so a known id reaches the database only once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import ASTValidationRule
from sqlalchemy.ext.asyncio import AsyncSession

from gql.limits import LimitPolicy, strip_suggestions, validation_rules
from models.platform.documents import (
    AUTOMATIC,
    MANIFEST,
    MAX_DOCUMENT_ID_LENGTH,
    Added,
    StoredDocument,
    add_automatic,
    add_documents,
    find_by_id,
    find_by_sha256,
    sha256_of,
)
from models.platform.users import Principal

NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
TRUSTED_REQUIRED_CODE = "TRUSTED_DOCUMENT_REQUIRED"
TRUSTED_REQUIRED_MESSAGE = "Only registered documents may run here: send a documentId"
SHA256_PREFIX = "sha256:"
APQ_VERSION = 1
APOLLO_MANIFEST = "apollo-persisted-query-manifest"
# As Apollo Server sends with its persisted query errors: never cache the miss.
NO_STORE = {"cache-control": "private, no-cache, must-revalidate"}


@dataclass(frozen=True, slots=True)
class DocumentRefused:
    """The request names no document that may run: answered as is, nothing executes."""

    status: int
    code: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def error(self) -> GraphQLError:
        return GraphQLError(self.message, extensions={"code": self.code})

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}


def _bad_request(message: str) -> DocumentRefused:
    return DocumentRefused(400, "BAD_REQUEST", message)


PERSISTED_QUERY_NOT_FOUND = DocumentRefused(200, NOT_FOUND_CODE, NOT_FOUND_MESSAGE, NO_STORE)
TRUSTED_DOCUMENT_REQUIRED = DocumentRefused(403, TRUSTED_REQUIRED_CODE, TRUSTED_REQUIRED_MESSAGE)
BOTH_GIVEN = _bad_request("Send either documentId or query, not both")
BAD_DOCUMENT_ID = _bad_request("documentId must be a string")
BAD_VERSION = _bad_request("Unsupported persisted query version")
BAD_HASH = _bad_request("persistedQuery.sha256Hash must be a string")
HASH_MISMATCH = _bad_request("provided sha does not match query")


@dataclass(frozen=True, slots=True)
class DocumentPolicy:
    trusted_only: bool = False
    # Callers who may still send text under ``trusted_only`` (never registered).
    exempt_user_ids: frozenset[int] = frozenset()
    cache_size: int = 256
    cache_seconds: float = 60.0
    max_tokens: int = 2000
    rules: tuple[type[ASTValidationRule], ...] = tuple(specified_rules)


def document_policy(
    limits: LimitPolicy,
    *,
    trusted_only: bool,
    exempt_user_ids: str,
    cache_seconds: float,
) -> DocumentPolicy:
    return DocumentPolicy(
        trusted_only=trusted_only,
        exempt_user_ids=frozenset(
            int(part) for part in exempt_user_ids.split(",") if part.strip().isdigit()
        ),
        cache_size=limits.cache_size,
        cache_seconds=cache_seconds,
        max_tokens=limits.max_tokens,
        rules=validation_rules(tuple(specified_rules), limits),
    )


def check_document(
    schema: GraphQLSchema, policy: DocumentPolicy, text: str
) -> tuple[DocumentNode | None, list[str]]:
    """The parsed document and what keeps it from registration (nothing if it may run)."""
    try:
        document = parse(text, max_tokens=policy.max_tokens)
    except GraphQLError as error:
        return None, [error.message]
    errors = validate(schema, document, policy.rules, hide_suggestions=True)
    return document, [strip_suggestions(error.message) for error in errors]


def operation_name_of(document: DocumentNode) -> str | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.name:
            return definition.name.value
    return None


class DocumentRegistry:
    """Per-process view of the registered documents, for one schema and one policy."""

    def __init__(self, schema: GraphQLSchema, policy: DocumentPolicy) -> None:
        self.schema = schema
        self.policy = policy
        self._cache: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self.database_lookups = 0  # for tests and diagnostics

    def involved(self, document_id: object, extensions: object) -> bool:
        """Whether ``resolve`` has anything to do (plain text outside trusted mode: no)."""
        return (
            self.policy.trusted_only
            or document_id is not None
            or (isinstance(extensions, Mapping) and "persistedQuery" in extensions)
        )

    async def resolve(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        query: str | None,
        document_id: object,
        extensions: Mapping[str, Any] | None,
    ) -> str | DocumentRefused:
        """The text the request runs, or why it runs nothing. The caller authenticated."""
        persisted = extensions.get("persistedQuery") if extensions is not None else None
        if document_id is not None:
            if query is not None:
                return BOTH_GIVEN
            if not isinstance(document_id, str):
                return BAD_DOCUMENT_ID
            text = await self._by_id(session, document_id)
            return PERSISTED_QUERY_NOT_FOUND if text is None else text
        if persisted is not None:
            return await self._automatic(session, principal, query, persisted)
        if query is None or not self.policy.trusted_only:
            return query  # type: ignore[return-value]  # no query: the view's own 400
        known = await self._by_sha256(session, sha256_of(query))
        if known is not None:
            return known
        return query if self._exempt(principal) else TRUSTED_DOCUMENT_REQUIRED

    async def _automatic(
        self, session: AsyncSession, principal: Principal, query: str | None, persisted: Any
    ) -> str | DocumentRefused:
        if not isinstance(persisted, Mapping) or persisted.get("version") != APQ_VERSION:
            return BAD_VERSION
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str):
            return BAD_HASH
        if query is None:
            text = await self._by_sha256(session, digest)
            return PERSISTED_QUERY_NOT_FOUND if text is None else text
        if sha256_of(query) != digest.lower():
            return HASH_MISMATCH
        known = await self._by_sha256(session, digest)
        if known is not None:
            return known
        if self.policy.trusted_only:
            return query if self._exempt(principal) else TRUSTED_DOCUMENT_REQUIRED
        document, problems = check_document(self.schema, self.policy, query)
        if document is not None and not problems:
            await add_automatic(
                session,
                StoredDocument(
                    document_id=digest.lower(),
                    sha256=digest.lower(),
                    body=query,
                    operation_name=operation_name_of(document),
                    source=AUTOMATIC,
                ),
            )
            self._remember(("sha256", digest.lower()), query)
        # Text that does not validate is not stored; running it answers its errors.
        return query

    def known_text(self, document_id: object, extensions: object) -> str | None:
        """The text a request naming its document alone (``documentId``, or Apollo's hash
        without text) runs, when this process holds it already; None leaves the request
        to ``resolve``, which looks it up or refuses it."""
        if document_id is not None:
            if extensions is not None or not isinstance(document_id, str):
                return None
            return self._cached(("id", document_id))
        if not isinstance(extensions, Mapping) or extensions.keys() != {"persistedQuery"}:
            return None
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, Mapping) or persisted.get("version") != APQ_VERSION:
            return None
        digest = persisted.get("sha256Hash")
        return self._cached(("sha256", digest.lower())) if isinstance(digest, str) else None

    def _exempt(self, principal: Principal) -> bool:
        return principal.user_id in self.policy.exempt_user_ids

    async def _by_id(self, session: AsyncSession, document_id: str) -> str | None:
        key = ("id", document_id)
        text = self._cached(key)
        if text is None:
            self.database_lookups += 1
            stored = await find_by_id(session, document_id)
            if stored is None and document_id.startswith(SHA256_PREFIX):
                stored = await find_by_sha256(session, document_id[len(SHA256_PREFIX) :])
            if stored is not None:
                text = self._remember(key, stored.body)
        return text

    async def _by_sha256(self, session: AsyncSession, digest: str) -> str | None:
        key = ("sha256", digest.lower())
        text = self._cached(key)
        if text is None:
            self.database_lookups += 1
            stored = await find_by_sha256(session, digest)
            if stored is not None:
                text = self._remember(key, stored.body)
        return text

    def _cached(self, key: tuple[str, str]) -> str | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        if time.monotonic() > entry[0]:
            del self._cache[key]  # removed elsewhere, perhaps: look again
            return None
        self._cache.move_to_end(key)
        return entry[1]

    def _remember(self, key: tuple[str, str], text: str) -> str:
        self._cache[key] = (time.monotonic() + self.policy.cache_seconds, text)
        self._cache.move_to_end(key)
        while len(self._cache) > max(self.policy.cache_size, 1):
            self._cache.popitem(last=False)
        return text

    def forget(self) -> None:
        self._cache.clear()


class ManifestError(ValueError):
    """A manifest that is not one of the known formats, or holds documents that fail."""


def manifest_documents(data: object) -> list[StoredDocument]:
    """The documents of a GraphQL Codegen (``persisted-documents.json``), Relay
    (``persisted_queries.json``) or Apollo (``apollo-persisted-query-manifest``) manifest.
    Their keys are opaque ids, kept as they are."""
    if isinstance(data, Mapping) and data.get("format") == APOLLO_MANIFEST:
        if data.get("version") != 1:
            raise ManifestError("unsupported apollo-persisted-query-manifest version")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ManifestError("the manifest's operations must be a list")
        documents = []
        for operation in operations:
            if not isinstance(operation, Mapping):
                raise ManifestError("each operation must be an object")
            ident, body, name = operation.get("id"), operation.get("body"), operation.get("name")
            if not isinstance(ident, str) or not ident or not isinstance(body, str):
                raise ManifestError("each operation needs a string id and body")
            documents.append(
                StoredDocument(
                    ident, sha256_of(body), body, name if isinstance(name, str) else None
                )
            )
        return documents
    if isinstance(data, Mapping) and data and "format" not in data:
        documents = []
        for ident, body in data.items():
            if not isinstance(ident, str) or not ident or not isinstance(body, str):
                raise ManifestError("a manifest maps ids to document text")
            documents.append(StoredDocument(ident, sha256_of(body), body))
        return documents
    raise ManifestError(
        "not a persisted document manifest (GraphQL Codegen, Relay or "
        "apollo-persisted-query-manifest)"
    )


async def register_manifest(
    session: AsyncSession,
    schema: GraphQLSchema,
    policy: DocumentPolicy,
    documents: Sequence[StoredDocument],
) -> Added:
    """Registers every document, each parsed and validated first; one that fails (or an id
    taken by other text) refuses them all."""
    failures: list[str] = []
    checked: list[StoredDocument] = []
    for stored in documents:
        if len(stored.document_id) > MAX_DOCUMENT_ID_LENGTH:
            failures.append(
                f"{stored.document_id[:40]}...: id longer than {MAX_DOCUMENT_ID_LENGTH} characters"
            )
            continue
        document, problems = check_document(schema, policy, stored.body)
        failures.extend(f"{stored.document_id}: {problem}" for problem in problems)
        if document is not None and not problems:
            name = stored.operation_name or operation_name_of(document)
            checked.append(
                StoredDocument(stored.document_id, stored.sha256, stored.body, name, MANIFEST)
            )
    if failures:
        raise ManifestError("; ".join(failures))
    return await add_documents(session, checked)


__all__ = [
    "NOT_FOUND_CODE",
    "TRUSTED_REQUIRED_CODE",
    "DocumentPolicy",
    "DocumentRefused",
    "DocumentRegistry",
    "ManifestError",
    "check_document",
    "document_policy",
    "manifest_documents",
    "register_manifest",
]
