"""JSON responses serialised with orjson."""

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask


# A JSONResponse subclass so that OpenAPI documents routes' response models (FastAPI
# describes any other response class as a plain string).
class JSONBody(JSONResponse):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        raw_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """``raw_headers``: lower-case names and values as bytes, sent first and as they
        are (Starlette lower-cases and encodes each of ``headers`` per response)."""
        super().__init__(content, status_code, headers, media_type, background)
        if raw_headers:
            self.raw_headers[:0] = raw_headers

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class RawJSONBody(JSONBody):
    """A body that is already JSON text (rendered by the database): sent as it is."""

    def render(self, content: Any) -> bytes:
        if isinstance(content, str):
            return content.encode()
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)
