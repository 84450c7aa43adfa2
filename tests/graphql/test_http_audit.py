"""The GraphQL over HTTP audit (``serverAudits`` of npm graphql-http 1.23) against a live
``clinic-availability serve`` on loopback, as an admin: every audit passes.

Needs node and npm (the package is installed once into ~/.cache/clinic-audit, or
CLINIC_AUDIT_CACHE). Outside CI a machine without node skips; under CI=true it must run.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from models.platform.db import create_engine
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from tests.ops.test_serve import free_port, wait_ready

# The npm install into the shared cache happens on one worker (and under a file lock).
pytestmark = pytest.mark.xdist_group("graphql-http-audit")

IN_CI = os.environ.get("CI", "").lower() == "true"
PACKAGE = "graphql-http@1.23"
SCRIPT = Path(__file__).with_name("audit") / "graphql_http_audit.mjs"
CACHE = Path(os.environ.get("CLINIC_AUDIT_CACHE", Path.home() / ".cache" / "clinic-audit"))


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"the GraphQL over HTTP audit cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def audit_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are not installed")
    modules = CACHE / "node_modules"
    manifest = modules / "graphql-http" / "package.json"
    CACHE.mkdir(parents=True, exist_ok=True)
    # Runs side by side share the cache: one installs, the others wait and reuse it.
    with (CACHE / ".install.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest.is_file() or not json.loads(manifest.read_text())["version"].startswith(
            "1.23."
        ):
            installed = subprocess.run(
                [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", PACKAGE],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if installed.returncode != 0:
                _unavailable(f"npm install {PACKAGE} failed: {installed.stderr[-500:]}")
    return modules


async def _admin_token(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(
                session, role="admin", first_name="Audit", last_name="Admin"
            )
            return token
    finally:
        await engine.dispose()


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``clinic-availability serve`` on a free loopback port: (GraphQL URL, admin token)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "clinic_availability.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(base, process)
            yield f"{base}/graphql", asyncio.run(_admin_token(database_url))
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_graphql_over_http_audit_passes_every_check(
    audit_modules: Path, served: tuple[str, str]
) -> None:
    url, token = served
    completed = subprocess.run(
        ["node", str(SCRIPT), url, token],
        env={**os.environ, "AUDIT_MODULES": str(audit_modules)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    counts = json.loads(lines[-1])
    print(f"\ngraphql-http audit: {counts}")
    assert counts["ok"] >= 61 and counts["warn"] == 0 and counts["error"] == 0, lines
