"""A webhook receiver on loopback for the tests: records every request it gets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    status: int = 200
    delay: float = 0.0
    got: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.got.append(Received(headers, body, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def unique_ids(self) -> set[str]:
        return {item.headers["webhook-id"] for item in self.got}


@asynccontextmanager
async def running(receiver: Receiver) -> AsyncIterator[Receiver]:
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    receiver.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


def signature_valid(secret: str, item: Received) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{item.headers['webhook-id']}.{item.headers['webhook-timestamp']}.".encode()
    expected = base64.b64encode(hmac.new(key, signed + item.body, hashlib.sha256).digest())
    offered = [part.split(",", 1)[1] for part in item.headers["webhook-signature"].split(" ")]
    return any(hmac.compare_digest(expected.decode(), value) for value in offered)


async def wait_for(predicate: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
