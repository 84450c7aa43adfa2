"""Every request example in README.md and docs/ runs against a real `serve --demo`.

The examples of one page run in order in one shell, as a reader would paste them (shell
variables set by one example are there for the next), with TOKEN set to the token
`serve --demo` printed. Each answer must have the status and shape the page shows.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from tests.docs.doc_examples import Example, examples_in, shape_mismatch, split_reply

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SCRIPT = Path(sys.executable).with_name("clinic-availability")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "clinic_availability.cli"]
DOCUMENTED_ORIGIN = "http://127.0.0.1:8000"


@dataclass
class Demo:
    origin: str
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`serve --demo` on a loopback port over a new SQLite file, as the README starts it."""
    folder = tmp_path_factory.mktemp("demo")
    port = _free_port()
    out = (folder / "serve.out").open("w")
    process = subprocess.Popen(
        [*COMMAND, "serve", "--demo", "--port", str(port)],
        cwd=folder,
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'demo.db'}",
            # docs/live.md registers a webhook receiver on this machine, as it says to.
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        },
        stdout=out,
        stderr=subprocess.DEVNULL,
    )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (folder / "serve.out").read_text()
            assert time.monotonic() < deadline, "serve --demo did not answer within 90 s"
            try:
                httpx.get(f"{origin}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        printed = (folder / "serve.out").read_text().strip().splitlines()
        assert any(f"{origin}/graphql#token=" in line for line in printed), printed
        yield Demo(origin=origin, token=printed[-1].strip())
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()


def _script(examples: list[Example], demo: Demo, outputs: Path) -> str:
    """One shell session running the page's examples in order, each answer to its files."""
    lines = [
        "set -u",
        f"export TOKEN={shlex.quote(demo.token)}",
        f"export API={shlex.quote(demo.origin + '/v1/admin/clinic/availability')}",
        # The HTTP status of every request goes to a file of its own, never into the output.
        "curl() { command curl -sS --max-time 30 -w '%{stderr}%{http_code}\\n' \"$@\"; }",
    ]
    for index, example in enumerate(examples):
        command = example.command.replace(DOCUMENTED_ORIGIN, demo.origin)
        # A page's placeholder for the reader's token; the session has the real one.
        command = re.sub(r"^TOKEN=\.\.\..*$", ":", command, flags=re.M)
        lines.append(f"{{\n{command}\n}} >{outputs}/{index}.out 2>{outputs}/{index}.status")
    return "\n".join(lines) + "\n"


def _pages_with_requests() -> list[Path]:
    return [page for page in PAGES if page.exists() and "curl " in page.read_text()]


@pytest.mark.parametrize("page", _pages_with_requests(), ids=lambda page: page.name)
def test_the_pages_request_examples_answer_as_shown(page: Path, demo: Demo, tmp_path: Path) -> None:
    examples = examples_in(page, ROOT)
    subprocess.run(
        ["bash", "-c", _script(examples, demo, tmp_path)],
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    for index, example in enumerate(examples):
        statuses = (tmp_path / f"{index}.status").read_text().split()
        output = (tmp_path / f"{index}.out").read_text()
        assert statuses, f"{example.name}: no request was made"
        status = int(statuses[-1])
        if example.status is None:
            assert 200 <= status < 300, f"{example.name}: status {status}: {output[:300]}"
        else:
            assert status == example.status, f"{example.name}: status {status}: {output[:300]}"
        body = split_reply(output).strip()
        if example.body is None:
            continue
        assert body, f"{example.name}: an empty answer"
        problem = shape_mismatch(example.body, orjson.loads(body))
        assert problem is None, f"{example.name}: {problem}\n{body[:500]}"


def test_every_page_with_requests_shows_runnable_examples() -> None:
    """The README has at least one REST and one GraphQL example that run."""
    commands = " ".join(example.command for example in examples_in(ROOT / "README.md", ROOT))
    assert "/v1/admin/clinic/availability" in commands or "$API" in commands
    assert "/graphql" in commands
