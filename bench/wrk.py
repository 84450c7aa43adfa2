"""Driving a target with wrk (Debian's ``wrk`` package) and reading its report.

wrk runs as its own process in C, so every target, ours and a peer, is loaded by the
same client at the same cost. Requests come from a generated Lua script that cycles
through a fixed list (GET paths or POST bodies) on every connection.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import Request

THREADS = 2
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "requests": self.requests,
            "errors": self.errors,
        }


def binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    return found


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def lua_script(requests: Sequence[Request], headers: Mapping[str, str]) -> str:
    """A script sending ``requests`` in turn; each wrk thread starts at its own place."""
    all_headers = dict(headers)
    if any(r.body is not None for r in requests):
        all_headers.setdefault("Content-Type", "application/json")
    header_lines = ", ".join(
        f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in all_headers.items()
    )
    rows = ",\n".join(
        "  {"
        + f"{_lua_string(r.method)}, {_lua_string(r.path)}, "
        + (_lua_string(r.body.decode()) if r.body is not None else "nil")
        + "}"
        for r in requests
    )
    return f"""local requests = {{
{rows}
}}
local headers = {{ {header_lines} }}
local counter = 0
local formatted = {{}}
local threads = 0

setup = function(thread)
  threads = threads + 1
  thread:set("start", threads * 37)
end

init = function(args)
  counter = (start or 0) % #requests
  for i, r in ipairs(requests) do
    formatted[i] = wrk.format(r[1], r[2], headers, r[3])
  end
end

request = function()
  counter = counter % #requests + 1
  return formatted[counter]
end
"""


def parse(output: str) -> WrkResult:
    latencies = {int(p): float(v) * UNITS[u] for p, v, u in LATENCY.findall(output)}
    rate, total = RATE.search(output), TOTAL.search(output)
    if rate is None or total is None or 50 not in latencies or 99 not in latencies:
        raise RuntimeError(f"unreadable wrk report:\n{output}")
    errors = sum(int(n) for n in NON_2XX.findall(output))
    socket = SOCKET.search(output)
    if socket is not None:
        errors += sum(int(n) for n in socket.groups())
    return WrkResult(
        rps=float(rate.group(1)),
        p50_ms=latencies[50],
        p99_ms=latencies[99],
        requests=int(total.group(1)),
        errors=errors,
    )


async def run(
    url: str, script: Path, *, duration: float, connections: int, threads: int = THREADS
) -> WrkResult:
    """``wrk -t<threads> -c<connections> -d<duration>s --latency -s <script> <url>``."""
    command = [
        binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    # wrk reports an error in the script and carries on with plain GETs of the URL.
    if process.returncode != 0 or f"{script}:" in text:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text}")
    return parse(text)
