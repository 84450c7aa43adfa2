"""Small ASGI pieces the request layers share."""

from __future__ import annotations

from starlette.types import Message, Receive


def buffered_receive(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
