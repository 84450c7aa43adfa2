"""The ``clinic-availability`` command, run as a user runs it: a process with DATABASE_URL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _admin_execute, _async_url
from tests.factories import SLOTS, iso

# One ``serve`` process for the module's tests (a module fixture): on one worker.
pytestmark = pytest.mark.xdist_group("cli")

SCRIPT = Path(sys.executable).with_name("clinic-availability")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "clinic_availability.cli"]


def run(
    *args: str, database_url: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def migrated_file(sqlite_file: Path, sqlite_template: Path) -> Path:
    shutil.copyfile(sqlite_template, sqlite_file)
    return sqlite_file


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def query(path: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


def test_migrate_creates_the_schema_and_is_repeatable(sqlite_file: Path, tmp_path: Path):
    first = run("migrate", database_url=url_of(sqlite_file), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    tables = {row[0] for row in query(sqlite_file, "SELECT name FROM sqlite_master")}
    assert {"available_slots", "providers", "bookings", "alembic_version"} <= tables
    again = run("migrate", database_url=url_of(sqlite_file), cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_migrate_on_postgresql(tmp_path: Path):
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped outside CI")
    base = _async_url(base)
    name = f"clinic_cli_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin_execute(base, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        result = run("migrate", database_url=url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        check = run(
            "create-user",
            "--role",
            "admin",
            "--first-name",
            "A",
            "--last-name",
            "B",
            database_url=url,
            cwd=tmp_path,
        )
        assert check.returncode == 0, check.stderr
    finally:
        asyncio.run(_admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_create_user_prints_its_token_last(migrated_file: Path, tmp_path: Path):
    sqlite_file = migrated_file
    result = run(
        "create-user",
        "--role",
        "admin",
        "--first-name",
        "Ada",
        "--last-name",
        "Admin",
        database_url=url_of(sqlite_file),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    token = last_line(result.stdout)
    assert len(token) >= 43
    stored = query(
        sqlite_file,
        "SELECT users.role, users.first_name FROM api_tokens JOIN users ON users.id = user_id "
        "WHERE token_hash = ?",
        hashlib.sha256(token.encode()).hexdigest(),
    )
    assert stored == [("admin", "Ada")]
    assert query(sqlite_file, "SELECT count(*) FROM api_tokens WHERE token_hash = ?", token) == [
        (0,)
    ]


def test_create_user_refuses_bad_input(migrated_file: Path, tmp_path: Path):
    sqlite_file = migrated_file
    blank = run(
        "create-user",
        "--role",
        "admin",
        "--first-name",
        " ",
        "--last-name",
        "X",
        database_url=url_of(sqlite_file),
        cwd=tmp_path,
    )
    assert blank.returncode == 1
    assert "first_name can't be blank" in blank.stderr
    assert "Traceback" not in blank.stderr
    role = run(
        "create-user",
        "--role",
        "root",
        "--first-name",
        "A",
        "--last-name",
        "X",
        database_url=url_of(sqlite_file),
        cwd=tmp_path,
    )
    assert role.returncode == 2
    assert query(sqlite_file, "SELECT count(*) FROM users") == [(0,)]


def test_export_schema_prints_the_sdl(tmp_path: Path):
    result = run("export-schema", database_url=url_of(tmp_path / "unused.db"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "type Query" in result.stdout
    assert "type Mutation" in result.stdout
    root = Path(__file__).resolve().parents[1] / "schema.graphql"
    if root.exists():
        assert result.stdout.strip() == root.read_text().strip()


def seed(sqlite_file: Path, cwd: Path) -> str:
    result = run("seed-demo", database_url=url_of(sqlite_file), cwd=cwd)
    assert result.returncode == 0, result.stderr
    return last_line(result.stdout)


def test_seed_demo_builds_a_small_clinic(sqlite_file: Path, tmp_path: Path):
    token = seed(sqlite_file, tmp_path)

    role = query(
        sqlite_file,
        "SELECT users.role FROM api_tokens JOIN users ON users.id = user_id WHERE token_hash = ?",
        hashlib.sha256(token.encode()).hexdigest(),
    )
    assert role == [("admin",)]
    assert query(sqlite_file, "SELECT count(*) FROM providers") == [(3,)]
    assert query(sqlite_file, "SELECT count(*) FROM patients") == [(4,)]
    ((slots, first, last),) = query(
        sqlite_file, "SELECT count(*), min(start_time), max(start_time) FROM available_slots"
    )
    assert slots >= 21
    span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
    assert timedelta(days=5) < span < timedelta(days=8)
    assert query(sqlite_file, "SELECT count(*) FROM bookings")[0][0] >= 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``serve`` running on a loopback port over a seeded database: (base url, admin token)."""
    tmp_path = tmp_path_factory.mktemp("serve")
    sqlite_file = tmp_path / "served.db"
    token = seed(sqlite_file, tmp_path)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": url_of(sqlite_file)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not answer within 60 s"
            try:
                httpx.get(f"{url}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_serve_answers_the_documented_create_request(served: tuple[str, str]):
    url, token = served
    headers = {"X-User-Token": token}
    provider_id = httpx.get(f"{url}{SLOTS}", headers=headers).json()[0]["provider_id"]
    start = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0) + timedelta(
        days=30
    )
    example = {
        "available_slot": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "appointment_type": "therapy",
            "recurring": True,
            "recurrence_pattern": "weekly",
        }
    }

    created = httpx.post(f"{url}{SLOTS}", json=example, headers=headers, timeout=30)

    assert created.status_code == 201, created.text
    assert created.json()["start_time"] == iso(start)
    assert created.json()["recurrence_pattern"] == "weekly"
    fetched = httpx.get(f"{url}{SLOTS}/{created.json()['id']}", headers=headers)
    assert fetched.json() == created.json()
    unauthenticated = httpx.post(f"{url}{SLOTS}", json=example)
    assert unauthenticated.status_code == 401


def test_serve_offers_graphiql_in_a_browser(served: tuple[str, str]):
    url, _token = served
    page = httpx.get(f"{url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "graphiql" in page.text.lower()
