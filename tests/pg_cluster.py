"""A PostgreSQL cluster of a test's own (initdb in a temporary folder, a free loopback
port), for fault tests that restart or stop the server without touching the shared one."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(reason: str) -> None:
    """Skip outside CI; under CI=true a missing tool is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    bindir: Path
    data: Path
    port: int
    owner: str | None  # the account the server runs as when the tests run as root

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def pg_ctl(self, action: str, *extra: str) -> subprocess.CompletedProcess[str]:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        log = str(self.data.parent / "server.log")
        return self.run(
            "pg_ctl",
            action,
            "-D",
            str(self.data),
            "-l",
            log,
            "-w",
            "-t",
            "60",
            "-o",
            options,
            *extra,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A running cluster (trust auth for the superuser ``postgres``), removed afterwards."""
    bindir = _bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    assert bindir is not None
    owner: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root without a postgres account for the server")
        owner = "postgres"
    root = Path(tempfile.mkdtemp(prefix="clinic-pg-"))
    data = root / "data"
    if owner is not None:
        info = pwd.getpwnam(owner)
        os.chown(root, info.pw_uid, info.pw_gid)
    cluster = Cluster(bindir, data, free_port(), owner)
    try:
        made = cluster.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-N")
        assert made.returncode == 0, made.stderr
        # Small and quick to restart: a test cluster, not a production one.
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\nfsync = off\nshared_buffers = 16MB\nmax_connections = 60\n")
        started = cluster.pg_ctl("start")
        assert started.returncode == 0, started.stderr + started.stdout
        yield cluster
    finally:
        if data.exists():
            cluster.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)
