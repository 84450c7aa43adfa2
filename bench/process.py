"""Starting and stopping the measured server (uvicorn, one worker, on loopback) and, with
``--failing-webhook``, the webhook dispatcher beside it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import orjson

from bench.load import Request, request_once
from bench.server import STATS_PATH

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(
    process: subprocess.Popen[bytes] | None, log: IO[Any] | None, sig: int, *, timeout: float
) -> None:
    """Ask ``process`` to stop with ``sig``, kill it after ``timeout`` s, close its log."""
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if log is not None:
        log.close()


class ServerProcess:
    """``uvicorn --factory bench.server:create_bench_app`` as a child process."""

    def __init__(self, database_url: str, log_path: Path, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.extra_env = env
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.extra_env, "DATABASE_URL": self.database_url}
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.server:create_bench_app",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def start(self) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at startup; see {self.log_path}")
            try:
                status, _ = await request_once(HOST, self.port, Request("GET", STATS_PATH), {})
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer in {STARTUP_TIMEOUT:.0f} s")

    async def stats(self) -> dict[str, int]:
        status, body = await request_once(HOST, self.port, Request("GET", STATS_PATH), {})
        if status != 200:
            raise RuntimeError(f"stats endpoint answered {status}")
        stats: dict[str, int] = orjson.loads(body)
        return stats

    def memory_kb(self) -> dict[str, int]:
        """Resident memory now and at its peak (VmRSS, VmHWM) from /proc."""
        found: dict[str, int] = {}
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return found
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
        return found

    def stop(self) -> None:
        stop_process(self.process, self._log, signal.SIGINT, timeout=30)


class DispatcherProcess:
    """``clinic-availability dispatch-webhooks`` as a child process, on the same database."""

    def __init__(self, database_url: str, log_path: Path, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.extra_env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "clinic_availability.cli", "dispatch-webhooks"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def start(self) -> None:
        """Returns once the dispatcher runs (its log says so)."""
        # INFO: the start line is what the bench waits for; it logs nothing per delivery.
        env = {
            **os.environ,
            **self.extra_env,
            "DATABASE_URL": self.database_url,
            "LOG_LEVEL": "INFO",
        }
        self.process = self._spawn(env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dispatcher exited at startup; see {self.log_path}")
            if b"webhook dispatcher started" in self.log_path.read_bytes():
                return
            await asyncio.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the dispatcher did not start in {STARTUP_TIMEOUT:.0f} s")

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far (from /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        stop_process(self.process, self._log, signal.SIGINT, timeout=30)
