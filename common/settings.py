"""One settings object for the whole service, read from the environment."""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.scheduling.series import RecurrenceLimits

DATABASE_FILE = "clinic_availability.db"


def data_folder() -> Path:
    """The per-user data folder (the XDG rule; ``%LOCALAPPDATA%`` on Windows)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "clinic-availability"


def found_here() -> Path | None:
    """A database file left in the current folder by an earlier version, if any."""
    here = Path.cwd() / DATABASE_FILE
    return here if here.is_file() else None


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.resolve()}"


def default_database_url() -> str:
    """SQLite in the per-user data folder, the same from any folder; a file already in
    the current folder (where earlier versions put it) is still used."""
    here = found_here()
    if here is not None:
        return sqlite_url(here)
    folder = data_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return sqlite_url(folder / DATABASE_FILE)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # DATABASE_URL; by default SQLite in the per-user data folder (see above).
    database_url: str = Field(default_factory=default_database_url)
    # IANA zone in which calendar-day filters (start_date, end_date, date) are read.
    clinic_time_zone: str = "UTC"

    default_page_size: int = 25
    max_page_size: int = 100
    max_batch_size: int = 500
    # How many occurrences one request may create, and how far ahead series are kept.
    max_occurrences: int = 500
    recurrence_horizon_days: int = 90
    recurrence_extend_interval_seconds: int = 3600
    # How often expired holds are marked and announced (hold.expired); 0 turns it off.
    hold_sweep_interval_seconds: float = 2.0
    # Widest start_date..end_date range a list or search may ask for.
    max_query_range_days: int = 366
    max_body_bytes: int = 1_048_576
    booking_notes_max_length: int = 2000

    # Token lookups are cached this long in each process; revocation takes effect
    # within this delay on other processes (immediately on the one that revoked).
    token_cache_seconds: float = 5.0

    # The most frequent requests answered ahead of the framework's routing by the same
    # code: REST slot list, search and get-one (cached admin token, plain parameters) and
    # every GraphQL POST.
    fast_lane: bool = True
    # FastAPI's own OpenTelemetry spans, metrics and logs of each request, sent to the
    # providers an OpenTelemetry SDK set up in this process. Off, FastAPI does not look
    # for providers on every request.
    opentelemetry: bool = False

    graphiql: bool = True
    introspection: bool = True
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 2000
    graphql_max_cost: int = 5000
    # Parsed and validated documents kept per process (LRU), so repeats skip the work.
    graphql_cache_size: int = 256
    # Queries answered by a compiled plan (cached like the documents) instead of
    # graphql-core completing every field; anything the plan does not cover still runs there.
    graphql_compiled_plan: bool = True
    # Persisted documents: "only" runs registered documents alone (by documentId, by
    # Apollo's hash, or their exact text) and refuses the rest (TRUSTED_DOCUMENT_REQUIRED),
    # Apollo's automatic registration included; "any" runs any text as well.
    graphql_trusted_documents: Literal["any", "only"] = "any"
    # Under "only", users (comma-separated ids) who may still send any text, e.g. the
    # developers who use GraphiQL; their text is never registered.
    graphql_trusted_documents_exempt_users: str = ""
    # Registered documents are kept this long in each process once read; a removal
    # reaches the other processes within this delay.
    graphql_document_cache_seconds: float = 60.0
    # Planned root fields that read records answered as JSON the database renders in the
    # selection's shape (one statement per root field); others keep the compiled plan.
    graphql_rendered_json: bool = True

    # Events are kept this many days (resume positions older than that are gone).
    event_retention_days: int = 30
    # Webhook deliveries: attempts before giving up, first back-off (doubling each time),
    # per-attempt timeout, concurrent sends per process and per receiver.
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 32
    webhook_concurrency_per_receiver: int = 4
    # Webhook targets not globally reachable (IANA's special-purpose registries) are
    # refused unless this is true.
    webhook_allow_private_targets: bool = False
    # Run the delivery dispatcher in this server process.
    webhook_dispatcher: bool = True
    # External calendars (docs/calendars.md): run their syncs in this server process; read
    # private, loopback or link-local addresses (hospital CalDAV servers often live there);
    # keys that encrypt their addresses and passwords (comma-separated, the first encrypts);
    # new calendars' sync interval; how far ahead busy time is read; one read's timeout.
    calendar_sync: bool = True
    calendar_allow_private_targets: bool = False
    calendar_secret_keys: str = Field(default="", repr=False)
    calendar_sync_interval_seconds: int = Field(default=300, ge=60, le=86_400)
    calendar_sync_horizon_days: int = Field(default=90, ge=1, le=730)
    calendar_sync_timeout_seconds: float = 20.0
    calendar_sync_concurrency: int = 4
    # GraphQL subscription sockets one server process accepts at once.
    subscription_max_sockets: int = 1000
    # Serve /fhir without a token (a public SMART Scheduling Links feed: no patient data).
    fhir_public: bool = False
    # The address clients reach this service at (``https://api.example.org``), used for
    # absolute URLs a client keeps (calendar feeds, FHIR links); empty: the request's own.
    public_base_url: str = ""

    # "transaction" when DATABASE_URL points at a pooler in transaction mode (PgBouncer):
    # no named prepared statements and no session settings on pooled connections.
    # DATABASE_DIRECT_URL then reaches PostgreSQL itself, for LISTEN (subscriptions and
    # the webhook dispatcher's wake-ups); without it they poll as on SQLite.
    database_pooler: Literal["", "transaction"] = ""
    database_direct_url: str = ""

    db_pool_size: int = 10
    db_max_overflow: int = 10
    sql_echo: bool = False
    log_level: str = "INFO"
    # auto: readable lines when stderr is a terminal, JSON lines otherwise; or text, json.
    log_format: str = "auto"
    metrics_enabled: bool = True
    # When set, /metrics answers only ``Authorization: Bearer <token>``.
    metrics_token: str = ""
    # Comma-separated origins (``https://app.example.org``) whose pages may call the API
    # from a browser; ``*`` for any. Empty: no CORS headers at all.
    cors_allow_origins: str = ""
    readiness_timeout_seconds: float = 2.0

    @field_validator("clinic_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not (value.startswith(("http://", "https://")) and "://" != value[-3:]):
            raise ValueError("must be an absolute http(s) URL, or empty")
        return value

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_time_zone)

    @property
    def behind_pooler(self) -> bool:
        return self.database_pooler == "transaction"

    @property
    def listen_url(self) -> str | None:
        """Where LISTEN may run: the database itself, never through a pooler."""
        if self.behind_pooler:
            return self.database_direct_url or None
        return self.database_url

    @property
    def migration_url(self) -> str:
        """Migrations hold one session throughout: PostgreSQL itself when known."""
        if self.behind_pooler and self.database_direct_url:
            return self.database_direct_url
        return self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def limits_of(settings: Settings) -> RecurrenceLimits:
    return RecurrenceLimits(
        horizon_days=settings.recurrence_horizon_days,
        max_occurrences=settings.max_occurrences,
    )
