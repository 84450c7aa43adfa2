"""JSON responses serialised with orjson."""

from typing import Any

import orjson
from fastapi.responses import JSONResponse


# A JSONResponse subclass so that OpenAPI documents routes' response models (FastAPI
# describes any other response class as a plain string).
class JSONBody(JSONResponse):
    media_type = "application/json"

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
