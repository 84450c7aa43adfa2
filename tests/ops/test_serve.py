"""``clinic-availability serve``: JSON logs, several workers, graceful shutdown on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.factories import SLOTS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited early"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become ready")


def test_serve_logs_json_and_shuts_down_gracefully(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    workers = 2 if backend == "postgresql" else 1
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clinic_availability.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(base, process)
            with httpx.Client(base_url=base, timeout=10) as http:
                answer = http.get(
                    f"{SLOTS}/7?page=2",
                    headers={"X-Request-ID": "serve-check-1", "X-User-Token": "not-a-token"},
                )
                assert answer.status_code == 401
                assert answer.headers["x-request-id"] == "serve-check-1"
                for _ in range(6):
                    assert http.get("/healthz").status_code == 200
            process.send_signal(signal.SIGTERM)
            # uvicorn finishes, then re-raises the signal it caught: -SIGTERM, not a kill.
            assert process.wait(timeout=40) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    text = log_path.read_text()
    lines: list[dict[str, Any]] = [
        # stdout (the addresses serve prints) shares the file: the log lines are the JSON ones.
        json.loads(line)
        for line in text.splitlines()
        if line.startswith("{")
    ]
    # Not a terminal: no readable-text log line.
    assert not re.search(r"^\d\d:\d\d:\d\d\.\d{3} ", text, re.M)
    access = [line for line in lines if line.get("request_id") == "serve-check-1"]
    assert len(access) == 1
    assert access[0]["route"] == f"{SLOTS}/{{slot_id}}"
    assert access[0]["status"] == 401
    assert "not-a-token" not in text and "page=2" not in text
    messages = [str(line["msg"]) for line in lines]
    started = {m for m in messages if re.match(r"Started server process \[\d+\]", m)}
    assert len(started) == workers
    assert any("Finished server process" in m for m in messages)
    assert any("Application shutdown complete" in m for m in messages)


def healthz_count(base: str) -> float:
    """``/healthz`` 200s counted by the worker that answers this scrape (a new connection)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "clinic_http_requests_total"
        and sample.labels == {"method": "GET", "route": "/healthz", "status": "200"}
    )


SERVE = (sys.executable, "-m", "clinic_availability.cli", "serve")


def test_metrics_report_every_worker(backend: str, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    requests = 40
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(base, process)
            for _ in range(requests):
                # A new connection each time, so the workers share the requests.
                assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
            # Whichever worker answers a scrape, it reports the requests of both.
            assert [healthz_count(base) for _ in range(6)] == [requests] * 6
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=40) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    folders = [line["metrics_dir"] for line in lines if "metrics_dir" in line]
    assert len(folders) == 1
    assert not Path(folders[0]).exists()
