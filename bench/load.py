"""A bounded HTTP/1.1 load generator on raw asyncio streams.

``concurrency`` keep-alive connections each send one request at a time until the
deadline (or until ``max_requests`` were handed out), then finish the request in flight
and stop. Every latency is kept, so p50 and p99 are exact. Raw streams keep the client's
own CPU cost low: the client shares the machine with the server it measures.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None


RequestBuilder = Callable[[int], Request]


@dataclass
class LoadResult:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    sample_error: str | None = None
    # The first request index not handed out: the next run continues from there.
    next_index: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return self.failures + sum(n for status, n in self.statuses.items() if status >= 400)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency in milliseconds below which ``fraction`` of the requests finished."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index] * 1000


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, raw: bytes) -> tuple[int, bytes, bool]:
        """Send one request; returns status, body and whether the server keeps the line."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, keep = 0, False, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                keep = False
        if chunked:
            body = await self._read_chunked()
        else:
            body = await self.reader.readexactly(length) if length else b""
        return status, body, keep

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def encode(request: Request, host: str, headers: dict[str, str]) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    body = request.body or b""
    if request.body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def run_load(
    host: str,
    port: int,
    build: RequestBuilder,
    *,
    duration: float,
    concurrency: int,
    headers: dict[str, str],
    max_requests: int | None = None,
    first_index: int = 0,
    error_marker: bytes | None = None,
) -> LoadResult:
    """Drive ``build(i)`` requests for ``duration`` seconds on ``concurrency`` connections.

    A reply whose body contains ``error_marker`` counts as an error whatever its status
    (GraphQL reports errors with 200).
    """
    result = LoadResult()
    counter = itertools.count(first_index)
    limit = None if max_requests is None else first_index + max_requests
    host_header = f"{host}:{port}"
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        connection = _Connection(host, port)
        try:
            while time.perf_counter() < deadline:
                index = next(counter)
                if limit is not None and index >= limit:
                    return
                raw = encode(build(index), host_header, headers)
                sent = time.perf_counter()
                try:
                    status, body, keep = await asyncio.wait_for(
                        connection.exchange(raw), REQUEST_TIMEOUT
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    result.failures += 1
                    result.sample_error = result.sample_error or f"{type(exc).__name__}: {exc}"
                    connection.close()
                    continue
                result.latencies.append(time.perf_counter() - sent)
                result.statuses[status] += 1
                failed = status >= 400
                if not failed and error_marker is not None and error_marker in body:
                    result.failures += 1
                    failed = True
                if failed and result.sample_error is None:
                    result.sample_error = f"HTTP {status}: {body[:300].decode(errors='replace')}"
                if not keep:
                    connection.close()
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    result.next_index = next(counter)
    return result


async def request_once(
    host: str, port: int, request: Request, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request on a connection of its own; returns status and body."""
    connection = _Connection(host, port)
    try:
        status, body, _keep = await asyncio.wait_for(
            connection.exchange(encode(request, f"{host}:{port}", headers)), REQUEST_TIMEOUT
        )
    finally:
        connection.close()
    return status, body


async def run_alternating(
    host: str,
    targets: Sequence[tuple[int, RequestBuilder, dict[str, str]]],
    *,
    duration: float,
    first_index: int = 0,
) -> list[LoadResult]:
    """One request at a time to each ``(port, build, headers)`` in turn, for ``duration`` s.

    Whatever else loads the machine meanwhile falls on every target alike, so their
    latencies compare even when the absolute figures wander.
    """
    results = [LoadResult() for _ in targets]
    connections = [_Connection(host, port) for port, _build, _headers in targets]
    started = time.perf_counter()
    deadline = started + duration
    index = first_index
    try:
        while time.perf_counter() < deadline:
            for (port, build, headers), connection, result in zip(
                targets, connections, results, strict=True
            ):
                raw = encode(build(index), f"{host}:{port}", headers)
                sent = time.perf_counter()
                try:
                    status, body, keep = await asyncio.wait_for(
                        connection.exchange(raw), REQUEST_TIMEOUT
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    result.failures += 1
                    result.sample_error = result.sample_error or f"{type(exc).__name__}: {exc}"
                    connection.close()
                    continue
                result.latencies.append(time.perf_counter() - sent)
                result.statuses[status] += 1
                if status >= 400 and result.sample_error is None:
                    result.sample_error = f"HTTP {status}: {body[:300].decode(errors='replace')}"
                if not keep:
                    connection.close()
            index += 1
    finally:
        for connection in connections:
            connection.close()
    elapsed = time.perf_counter() - started
    for result in results:
        result.elapsed = elapsed
        result.next_index = index
    return results
