"""Two ``serve`` processes over one PostgreSQL: a change through one reaches the other."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events.live_client import acked, live_socket, next_events, subscribe
from tests.factories import BOOKS
from tests.ops.test_serve import free_port, wait_ready


def _serve(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "RECURRENCE_EXTEND_INTERVAL_SECONDS": "0",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "clinic_availability.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_booking_through_one_process_reaches_a_subscriber_of_the_other(
    backend: str, database_url: str, factory: Any, auth: Any, tmp_path: Path
):
    if backend != "postgresql":
        pytest.skip("several processes share one database on PostgreSQL")
    slot = await factory.slot()
    patient = await factory.patient()
    ports = [free_port(), free_port()]
    processes = [_serve(database_url, port, tmp_path / f"serve-{port}.log") for port in ports]
    try:
        for port, process in zip(ports, processes, strict=True):
            await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", process)
        async with live_socket(f"127.0.0.1:{ports[1]}", auth) as socket:
            await acked(socket)
            await subscribe(socket, providerId=slot.provider_id)
            await asyncio.sleep(0.5)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
                booked = await http.post(
                    BOOKS,
                    json={"book": {"available_slot_id": slot.id, "patient_id": patient.id}},
                    headers=auth,
                )
            assert booked.status_code == 201, booked.text
            # Sooner than the idle re-read (5 s): only the NOTIFY can have woken it.
            (event,) = await next_events(socket, 1, within=4)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    assert event["type"] == "booking.created"
    assert event["slotId"] == slot.id and event["providerId"] == slot.provider_id
    assert event["slot"] == {"id": slot.id, "available": False}
