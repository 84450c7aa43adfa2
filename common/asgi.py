"""Small ASGI pieces the request layers share."""

from __future__ import annotations

from starlette.types import Message, Receive


class BufferedReceive:
    """A ``receive`` that hands out ``body`` once, then defers to the real one."""

    __slots__ = ("body", "receive", "sent")

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body = body
        self.receive = receive
        self.sent = False

    async def __call__(self) -> Message:
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        return await self.receive()


def buffered_receive(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then defers to the real one."""
    return BufferedReceive(body, receive)


def unread_body(receive: Receive) -> bytes | None:
    """The whole body ``receive`` (a :func:`buffered_receive`) still holds, not handed out
    yet; None for any other receive."""
    if type(receive) is BufferedReceive and not receive.sent:
        return receive.body
    return None
