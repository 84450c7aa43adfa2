"""What ``serve`` does before it serves: it owns its port first (a second demo on a taken
port changes nothing), then says where the clinic is and what to do next."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.factories import SLOTS
from tests.ops.test_serve import free_port

SCRIPT = Path(sys.executable).with_name("clinic-availability")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "clinic_availability.cli"]


def _env(**changes: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["LOG_FORMAT"] = "json"
    env.update(changes)
    return env


@contextmanager
def serving(args: list[str], env: dict[str, str], cwd: Path, out: Path) -> Iterator[str]:
    """``serve`` in a process of its own until it answers /healthz; yields its address."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with out.open("w") as stdout, out.with_suffix(".log").open("w") as stderr:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port), *args],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, out.read_text() + out.with_suffix(".log").read_text()
                assert time.monotonic() < deadline, "serve did not answer within 90 s"
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _tokens(database: Path) -> list[tuple[int, object]]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT id, revoked_at FROM api_tokens ORDER BY id").fetchall()


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_second_demo_on_a_taken_port_changes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    env = _env(DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    with serving(["--demo"], env, tmp_path, tmp_path / "first.out") as base:
        token = (tmp_path / "first.out").read_text().strip().splitlines()[-1]
        port = base.rsplit(":", 1)[1]
        tokens_before = _tokens(database)

        second = _run(["serve", "--demo", "--port", port], env, tmp_path)

        assert second.returncode == 3, second.stdout + second.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "--port" in second.stderr
        assert "Admin token" not in second.stdout
        # No token minted, none revoked: the running demo's token still opens the API.
        assert _tokens(database) == tokens_before
        answer = httpx.get(f"{base}{SLOTS}", headers={"X-User-Token": token}, timeout=10)
        assert answer.status_code == 200


def test_serve_on_an_empty_clinic_says_where_it_is_and_what_to_do(tmp_path: Path) -> None:
    """No DATABASE_URL: the per-user data folder, whichever folder serve starts from."""
    data_home, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "serve.out"
    with serving([], _env(XDG_DATA_HOME=str(data_home)), elsewhere, out) as base:
        printed = out.read_text()
    database = data_home / "clinic-availability" / "clinic_availability.db"
    assert database.is_file()
    assert not (elsewhere / "clinic_availability.db").exists()
    assert f"Database:                  {database}" in printed
    assert f"GraphiQL:                  {base}/graphql" in printed
    assert f"REST reference:            {base}/docs" in printed
    assert "No admin user yet" in printed
    assert "clinic-availability create-user --role admin" in printed


def test_a_database_option_overrides_the_environment(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.db"
    env = _env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'from-env.db'}")
    result = _run(["--database", str(chosen), "migrate"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert chosen.is_file()
    assert not (tmp_path / "from-env.db").exists()


def test_a_database_already_in_the_current_folder_is_still_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clinic_availability.cli import _database_lines
    from common.settings import Settings, sqlite_url

    here = tmp_path / "clinic_availability.db"
    here.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.database_url == sqlite_url(here)
    lines = _database_lines(settings)
    assert str(here) in lines
    assert "found in this folder is used" in lines
    assert str(tmp_path / "data" / "clinic-availability") in lines


def test_version() -> None:
    from clinic_availability.version import package_version

    result = subprocess.run(
        [*COMMAND, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"clinic-availability {package_version()}"
    assert package_version()[0].isdigit()
