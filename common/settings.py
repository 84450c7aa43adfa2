"""One settings object for the whole service, read from the environment."""

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.scheduling.series import RecurrenceLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./clinic_availability.db"
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
    # Private, loopback and link-local targets are refused unless this is true.
    webhook_allow_private_targets: bool = False
    # Run the delivery dispatcher in this server process.
    webhook_dispatcher: bool = True
    # GraphQL subscription sockets one server process accepts at once.
    subscription_max_sockets: int = 1000
    # Serve /fhir without a token (a public SMART Scheduling Links feed: no patient data).
    fhir_public: bool = False

    db_pool_size: int = 10
    db_max_overflow: int = 10
    sql_echo: bool = False
    log_level: str = "INFO"
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

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_time_zone)

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
