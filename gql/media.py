"""Which JSON media type a GraphQL reply takes, from the request's ``Accept`` header."""

from __future__ import annotations

from functools import lru_cache

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


@lru_cache(maxsize=64)
def negotiate(accept: str | None) -> str:
    """``application/graphql-response+json`` when the client accepts it at least as
    readily as ``application/json`` (or accepts only it); otherwise ``application/json``,
    the legacy type every client reads."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept or "").split(",")):
        media_range, *parameters = part.split(";")
        media_range = media_range.strip().lower()
        if media_range not in (JSON, GRAPHQL_RESPONSE):
            continue
        quality = _quality(parameters)
        if quality <= 0:
            continue
        candidate = (quality, -position, media_range)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best is not None else JSON
