"""``clinic-availability documents add|list|remove`` with the three manifest formats, on
both databases; the registered documents are then served over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clinic_availability.cli import main
from common.settings import get_settings
from tests.factories import Factory
from tests.graphql.helpers import GRAPHQL

PROVIDERS = "query Providers { providers { totalCount } }"
PATIENTS = "query Patients { patients { totalCount } }"
SLOT = "query Slot($id: Int!) { availableSlot(id: $id) { id } }"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def manifest(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["documents", "list"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


async def in_thread(argv: list[str]) -> int:
    """The command run beside the test's event loop, as from a shell."""
    return await asyncio.to_thread(main, argv)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.usefixtures("cli")
async def test_three_manifest_formats_are_added_listed_served_and_removed(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    client: httpx.AsyncClient,
    factory: Factory,
    auth: dict[str, str],
) -> None:
    slot = await factory.slot()
    codegen = manifest(tmp_path, "persisted-documents.json", {"b7c1a0e3f9": PROVIDERS})
    relay = manifest(tmp_path, "persisted_queries.json", {"0f3a9d2c44e1b6aa": PATIENTS})
    apollo = manifest(
        tmp_path,
        "persisted-query-manifest.json",
        {
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{"id": sha256(SLOT), "name": "Slot", "type": "query", "body": SLOT}],
        },
    )
    assert await in_thread(["documents", "add", codegen, relay]) == 0
    assert await in_thread(["documents", "add", apollo]) == 0
    assert "1 documents added, 0 already registered" in capsys.readouterr().out
    assert await asyncio.to_thread(listed, capsys) == [
        {"id": "b7c1a0e3f9", "operationName": "Providers", "sha256": sha256(PROVIDERS),
         "source": "manifest"},
        {"id": "0f3a9d2c44e1b6aa", "operationName": "Patients", "sha256": sha256(PATIENTS),
         "source": "manifest"},
        {"id": sha256(SLOT), "operationName": "Slot", "sha256": sha256(SLOT),
         "source": "manifest"},
    ]  # fmt: skip

    served = await client.post(GRAPHQL, json={"documentId": "b7c1a0e3f9"}, headers=auth)
    assert served.json() == {"data": {"providers": {"totalCount": 1}}}
    relay_served = await client.post(GRAPHQL, json={"documentId": "0f3a9d2c44e1b6aa"}, headers=auth)
    assert relay_served.json() == {"data": {"patients": {"totalCount": 0}}}
    apollo_served = await client.post(
        GRAPHQL,
        json={
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(SLOT)}},
            "variables": {"id": slot.id},
        },
        headers=auth,
    )
    assert apollo_served.json() == {"data": {"availableSlot": {"id": slot.id}}}

    # Adding the same file again changes nothing.
    assert await in_thread(["documents", "add", codegen]) == 0
    assert "0 documents added, 1 already registered" in capsys.readouterr().out

    assert await in_thread(["documents", "remove", "0f3a9d2c44e1b6aa"]) == 0
    assert await in_thread(["documents", "remove", "0f3a9d2c44e1b6aa"]) == 1
    assert "no document '0f3a9d2c44e1b6aa'" in capsys.readouterr().err
    assert [row["id"] for row in await asyncio.to_thread(listed, capsys)] == [
        "b7c1a0e3f9",
        sha256(SLOT),
    ]


@pytest.mark.usefixtures("cli")
def test_a_manifest_with_a_bad_document_registers_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = manifest(tmp_path, "bad.json", {"good": PROVIDERS, "broken": "{ noSuchField }"})
    assert main(["documents", "add", bad]) == 1
    error = capsys.readouterr().err
    assert "nothing registered" in error and "broken:" in error and "noSuchField" in error
    assert listed(capsys) == []

    assert main(["documents", "add", manifest(tmp_path, "a.json", {"same": PROVIDERS})]) == 0
    taken = manifest(tmp_path, "b.json", {"new": PATIENTS, "same": PATIENTS})
    assert main(["documents", "add", taken]) == 1
    assert "'same' is already registered with other text" in capsys.readouterr().err
    assert [row["id"] for row in listed(capsys)] == ["same"]

    for name, data in (
        ("list.json", ["not", "a", "manifest"]),
        ("empty.json", {}),
        ("apollo2.json", {"format": "apollo-persisted-query-manifest", "version": 2}),
        ("values.json", {"id": 3}),
    ):
        assert main(["documents", "add", manifest(tmp_path, name, data)]) == 1, name
    (tmp_path / "text.json").write_text("not json", encoding="utf-8")
    assert main(["documents", "add", str(tmp_path / "text.json")]) == 1
    assert listed(capsys) and len(listed(capsys)) == 1
