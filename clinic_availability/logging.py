"""One-line logs (JSON, or readable text on a terminal), and the request id every log
line of a request carries.

What is never logged: request or response bodies, query strings, headers (tokens travel
there), and exception messages (a database error's message can quote the values of a
booking's notes). A failure is logged with its exception type and stack only.
"""

from __future__ import annotations

import logging
import sys
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import Scope

# One request id variable for the whole service (error masking and audit read it too).
from common.request_context import request_id_var

__all__ = [
    "JsonFormatter",
    "RequestIdFilter",
    "RequestInfo",
    "TextFormatter",
    "log_request",
    "logging_config",
    "request_id_var",
    "request_info_var",
]

# Probes and scrapes arrive every few seconds; their lines are DEBUG, not INFO.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "unmatched"

# Keys a caller passes in ``extra={"fields": {...}}`` are added to the JSON object.
FIELDS_ATTR = "fields"

access_logger = logging.getLogger("clinic_availability.access")


@dataclass(slots=True)
class RequestInfo:
    """What one request's log line and metrics say; GraphQL adds the operation."""

    request_id: str
    method: str
    route: str = UNMATCHED_ROUTE
    status: int = 500
    duration_s: float = 0.0
    graphql_operation: str | None = None
    graphql_operation_type: str | None = None
    graphql_errors: bool = False


request_info_var: ContextVar[RequestInfo | None] = ContextVar("request_info", default=None)


def route_template(scope: Scope, root_path: str = "") -> str:
    """The matched route's path template (``/available_slots/{slot_id}``), never the path."""
    # FastAPI records the route as seen from the app, router prefixes included; the
    # route object itself only knows its path inside its router.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        effective = getattr(fastapi_scope.get("effective_route_context"), "path_format", None)
        if effective:
            return str(effective)
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return str(path)
    # A mounted app (the static files) extends root_path by its prefix.
    mounted = str(scope.get("root_path", ""))
    if len(mounted) > len(root_path) and mounted.startswith(root_path):
        return f"{mounted[len(root_path) :]}/{{path}}"
    return UNMATCHED_ROUTE


def _exception_fields(exc_info: Any) -> dict[str, Any]:
    exc_type, exc, tb = exc_info
    if exc_type is None:
        return {}
    chain: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 5:
        chain.append(f"{type(cause).__module__}.{type(cause).__qualname__}")
        cause = cause.__cause__ or cause.__context__
    return {
        "exc_type": chain[0],
        "exc_chain": chain[1:] or None,
        "stack": "".join(traceback.format_tb(tb)) if tb is not None else None,
    }


class RequestIdFilter(logging.Filter):
    """Stamps the current request id on a record when it is emitted, not when formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id", ...fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry.update(_exception_fields(record.exc_info))
        return orjson.dumps(
            {key: value for key, value in entry.items() if value is not None},
            default=str,
        ).decode()


class TextFormatter(JsonFormatter):
    """``12:00:01.234 INFO  logger  msg  key=value ...``: the same facts, for a person."""

    def format(self, record: logging.LogRecord) -> str:
        entry = orjson.loads(super().format(record))
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        head = f"{stamp} {entry.pop('level'):<7} {entry.pop('logger')}  {entry.pop('msg')}"
        entry.pop("ts", None)
        stack = entry.pop("stack", None)
        fields = " ".join(f"{key}={value}" for key, value in entry.items())
        line = f"{head}  {fields}" if fields else head
        return f"{line}\n{stack.rstrip()}" if stack else line


LOG_FORMATS = ("auto", "text", "json")


def chosen_format(setting: str, stream: Any = None) -> str:
    """``text`` or ``json``: ``auto`` is text when the stream (stderr) is a terminal."""
    setting = setting.strip().lower()
    if setting in ("text", "json"):
        return setting
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def logging_config(level: str = "INFO", log_format: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and uvicorn: one line a record on
    stderr, JSON or (``log_format="text"``, see :func:`chosen_format`) readable text.

    uvicorn's access log is off: it writes query strings, and the request middleware
    already logs one line per request without them.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": TextFormatter if chosen_format(log_format) == "text" else JsonFormatter}
        },
        "filters": {"request_id": {"()": RequestIdFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # At INFO SQLAlchemy logs statements with their parameters (patient data);
            # SQL_ECHO still turns that on explicitly for debugging.
            "sqlalchemy.engine": {"level": "WARNING"},
            # Its DEBUG lines print each statement with its parameters.
            "aiosqlite": {"level": "INFO"},
            # httpx logs every webhook delivery at INFO with its URL, query string
            # included (a receiver's own secret may be there); deliveries are recorded in
            # the database instead.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def log_request(info: RequestInfo) -> None:
    """The one access-log line of a request (DEBUG for probes and scrapes)."""
    level = logging.DEBUG if info.route in QUIET_ROUTES else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "request_id": info.request_id,
        "method": info.method,
        "route": info.route,
        "status": info.status,
        "duration_ms": round(info.duration_s * 1000, 2),
    }
    if info.graphql_operation_type is not None:
        fields["operation"] = info.graphql_operation or "anonymous"
        fields["operation_type"] = info.graphql_operation_type
        fields["graphql_errors"] = info.graphql_errors
    access_logger.log(level, "request", extra={FIELDS_ATTR: fields})
