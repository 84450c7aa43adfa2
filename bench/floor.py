"""The floor: the benchmarked work done with no framework at all.

A bare ASGI callable answering the same requests as the API under ``/floor`` (list,
search, get, create one, batch create, weekly series, book, reschedule, list books), each with one
hand-written statement where the database allows it, rows straight into dicts and
``orjson.dumps``. It checks the token (cached, as the API does) and the fields the
benchmark sends, and answers in the same JSON shapes; it serves only the query shapes the
benchmark uses. Whatever the API spends beyond this is framework and ORM overhead.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import orjson

from bench.floor_db import FloorDB, Row

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Reply = tuple[int, Any, list[tuple[bytes, bytes]]]

SLOT_COLUMNS = (
    "s.id, s.provider_id, {ts:s.start_time}, {ts:s.end_time}, s.appointment_type, "
    "(NOT s.admin_closed AND s.booked_count < s.capacity), s.recurring, s.recurrence_pattern, "
    "{ts:s.created_at}, {ts:s.updated_at}, "
    "p.first_name, p.last_name"
)
LIST_SQL = f"""
SELECT (SELECT count(*) FROM available_slots WHERE start_time >= $1 AND start_time < $2),
       {SLOT_COLUMNS}
FROM available_slots s JOIN providers p ON p.id = s.provider_id
WHERE s.start_time >= $1 AND s.start_time < $2
ORDER BY s.start_time, s.id LIMIT $3 OFFSET $4
"""
PROVIDER_WHERE = "{a}provider_id = $1 AND {a}start_time >= $2 AND {a}start_time < $3"
PROVIDER_LIST_SQL = f"""
SELECT (SELECT count(*) FROM available_slots WHERE {PROVIDER_WHERE.format(a="")}),
       {SLOT_COLUMNS}
FROM available_slots s JOIN providers p ON p.id = s.provider_id
WHERE {PROVIDER_WHERE.format(a="s.")}
ORDER BY s.start_time, s.id LIMIT $4 OFFSET $5
"""
SEARCH_WHERE = (
    "{a}provider_id = $1 AND {a}start_time >= $2 AND {a}start_time < $3 AND {a}start_time > $4 "
    "AND NOT {a}admin_closed AND {a}booked_count < {a}capacity AND {a}duration_minutes >= $5"
)
SEARCH_SQL = f"""
SELECT (SELECT count(*) FROM available_slots WHERE {SEARCH_WHERE.format(a="")}),
       {SLOT_COLUMNS}
FROM available_slots s JOIN providers p ON p.id = s.provider_id
WHERE {SEARCH_WHERE.format(a="s.")}
ORDER BY s.start_time, s.id LIMIT $6 OFFSET $7
"""
GET_SQL = f"""
SELECT {SLOT_COLUMNS} FROM available_slots s JOIN providers p ON p.id = s.provider_id
WHERE s.id = $1
"""
PROVIDER_SQL = "SELECT first_name, last_name, time_zone FROM providers WHERE id = $1 AND active"
INSERT_SLOT_SQL = """
INSERT INTO available_slots (provider_id, start_time, end_time, duration_minutes,
    appointment_type, admin_closed, recurring, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, false, false, $6, $6
WHERE NOT EXISTS (SELECT 1 FROM available_slots
                  WHERE provider_id = $1 AND start_time < $3 AND end_time > $2)
RETURNING id, {ts:created_at}, {ts:updated_at}
"""
CLASHES_SQL = """
SELECT start_time, end_time FROM available_slots
WHERE provider_id = $1 AND start_time < $2 AND end_time > $3
"""
INSERT_SERIES_SQL = """
INSERT INTO slot_series (provider_id, recurrence_pattern, recurrence_rule, dtstart_local,
    duration_minutes, time_zone, appointment_type, recurrence_end_date, generated_until,
    exhausted, occurrences_created, skipped_conflicts, created_at, updated_at)
VALUES ($1, 'weekly', 'FREQ=WEEKLY', $2, $3, $4, $5, $6, $7, true, $8, 0, $9, $9)
RETURNING id
"""
BOOK_CHECK_SQL = """
SELECT NOT s.admin_closed AND s.booked_count < s.capacity AND s.start_time > $3,
       (SELECT count(*) FROM patients WHERE id = $2 AND active)
FROM available_slots s WHERE s.id = $1
"""
INSERT_BOOK_SQL = """
INSERT INTO bookings (available_slot_id, patient_id, appointment_type, notes, status,
    created_at, updated_at)
VALUES ($1, $2, $3, $4, 'confirmed', $5, $5)
RETURNING id, {ts:created_at}, {ts:updated_at}
"""
CLAIM_SLOT_SQL = """
UPDATE available_slots SET booked_count = booked_count + 1, updated_at = $2
WHERE id = $1 AND NOT admin_closed AND booked_count < capacity RETURNING id
"""
# The booking moves first (its old slot read from the row as it was), then the new seat
# is claimed and the old one freed, all in one transaction.
MOVE_BOOK_SQL = """
UPDATE bookings SET available_slot_id = $2, rescheduled_from_slot_id = available_slot_id,
    reschedule_count = reschedule_count + 1, updated_at = $3
WHERE id = $1 AND status = 'confirmed'
RETURNING rescheduled_from_slot_id, patient_id, appointment_type, notes, reschedule_count,
    {ts:created_at}, {ts:updated_at}
"""
CLAIM_FUTURE_SLOT_SQL = """
UPDATE available_slots SET booked_count = booked_count + 1, updated_at = $2
WHERE id = $1 AND NOT admin_closed AND booked_count < capacity AND start_time > $2 RETURNING id
"""
FREE_SLOT_SQL = (
    "UPDATE available_slots SET booked_count = booked_count - 1, updated_at = $2 WHERE id = $1"
)
# CROSS JOIN makes SQLite walk slots in start order and stop after the page; left to
# itself it sorts every booking. PostgreSQL reads it as a plain inner join.
BOOKS_SQL = """
SELECT (SELECT count(*) FROM bookings),
       b.id, b.available_slot_id, b.patient_id, b.appointment_type, b.status,
       {ts:b.created_at}, {ts:b.updated_at}
FROM available_slots s CROSS JOIN bookings b
WHERE b.available_slot_id = s.id
ORDER BY s.start_time, b.id LIMIT $1 OFFSET $2
"""
# Find: the earliest open slots of a type over a range, across licensed providers who
# offer it (seats net of unexpired holds, no time off, long enough), start order.
FIND_SQL = f"""
SELECT {SLOT_COLUMNS}
FROM available_slots s JOIN providers p ON p.id = s.provider_id
WHERE s.start_time >= $1 AND s.start_time < $2 AND s.start_time > $3
  AND (s.appointment_type IS NULL OR s.appointment_type = $4) AND s.duration_minutes >= $5
  AND p.active AND NOT s.admin_closed
  AND (json_array_length(p.appointment_type_keys) = 0 OR {{has:p.appointment_type_keys:$4}})
  AND {{has:p.licensed_states:$6}}
  AND NOT EXISTS (SELECT 1 FROM time_offs t WHERE t.provider_id = s.provider_id
                  AND t.start_time < s.end_time AND t.end_time > s.start_time)
  AND s.booked_count + (SELECT count(*) FROM holds h WHERE h.available_slot_id = s.id
                        AND h.status = 'held' AND h.expires_at > $3) < s.capacity
ORDER BY s.start_time, s.provider_id, s.id LIMIT $7
"""
FIND_TYPE_SQL = "SELECT duration_minutes FROM appointment_types WHERE key = $1 AND active"
COUNT_SLOTS_SQL = "SELECT count(*) FROM available_slots WHERE start_time >= $1 AND start_time < $2"
COUNT_BOOKS_SQL = "SELECT count(*) FROM bookings"


class Invalid(Exception):
    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(status)
        self.status = status
        self.errors = errors


def _slot(row: Row, offset: int = 0) -> dict[str, Any]:
    r = row[offset:]
    return {
        "id": r[0],
        "provider_id": r[1],
        "start_time": r[2],
        "end_time": r[3],
        "appointment_type": r[4],
        "available": bool(r[5]),
        "recurring": bool(r[6]),
        "recurrence_pattern": r[7],
        "created_at": r[8],
        "updated_at": r[9],
        "provider": {"id": r[1], "first_name": r[10], "last_name": r[11]},
    }


def _stamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def _int(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        if default is None:
            raise Invalid(422, {name: ["can't be blank"]})
        return default
    if not raw.isdigit():
        raise Invalid(422, {name: ["is invalid"]})
    return int(raw)


def _day(params: dict[str, str], name: str) -> date:
    try:
        return date.fromisoformat(params[name])
    except (KeyError, ValueError):
        raise Invalid(422, {name: ["is invalid"]}) from None


def _time(value: Any, name: str) -> datetime:
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(422, {name: ["is invalid"]}) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _page_headers(total: int, page: int, size: int) -> list[tuple[bytes, bytes]]:
    pages = max(1, -(-total // size))
    return [
        (b"x-total-count", str(total).encode()),
        (b"x-page", str(page).encode()),
        (b"x-page-size", str(size).encode()),
        (b"x-total-pages", str(pages).encode()),
    ]


class Floor:
    """``/floor/...``: the same work as the API, with nothing in between."""

    def __init__(self, db: FloorDB) -> None:
        self.db = db
        self._admins: set[str] = set()

    async def _require_admin(self, scope: Scope) -> None:
        token = next((v for k, v in scope["headers"] if k == b"x-user-token"), None)
        if token is None:
            raise Invalid(401, "Authentication required")
        digest = hashlib.sha256(token).hexdigest()
        if digest in self._admins:
            return
        rows = await self.db.fetch(
            "SELECT u.role FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active",
            digest,
        )
        if not rows:
            raise Invalid(401, "Authentication required")
        if rows[0][0] != "admin":
            raise Invalid(403, "Admin access required")
        self._admins.add(digest)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            await self._require_admin(scope)
            status, payload, headers = await self._route(scope, body)
        except Invalid as exc:
            status, payload, headers = exc.status, {"errors": exc.errors}, []
        data = orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _route(self, scope: Scope, body: bytes) -> Reply:
        method: str = scope["method"]
        path: str = scope["path"].removeprefix("/floor")
        params = dict(parse_qsl(scope.get("query_string", b"").decode()))
        if method == "GET":
            if path == "/available_slots":
                return await self.list_slots(params)
            if path == "/available_slots/search":
                return await self.search_slots(params)
            if path.startswith("/available_slots/") and path[17:].isdigit():
                return await self.get_slot(int(path[17:]))
            if path == "/books":
                return await self.list_books(params)
            if path == "/find":
                return await self.find(params)
        elif method == "POST":
            data = orjson.loads(body) if body else {}
            if path == "/available_slots":
                fields = data.get("available_slot") or {}
                if fields.get("recurring"):
                    return await self.create_weekly_series(fields)
                return await self.create_slot(fields)
            if path == "/providers/available_slots/create_in_batch":
                return await self.create_batch(data)
            if path == "/books":
                return await self.create_book(data.get("book") or {})
            parts = path.split("/")
            if len(parts) == 4 and parts[1] == "books" and parts[3] == "reschedule":
                if parts[2].isdigit():
                    return await self.reschedule_book(int(parts[2]), data.get("book") or {})
        raise Invalid(404, "Not found")

    async def list_slots(self, params: dict[str, str]) -> Reply:
        page, size = _int(params, "page", 1), _int(params, "page_size", 25)
        start = self.db.ts(_midnight(_day(params, "start_date")))
        end = self.db.ts(_midnight(_day(params, "end_date")) + timedelta(days=1))
        if "provider_id" in params:
            return await self._provider_slots(params, start, end, page, size)
        rows = await self.db.fetch(LIST_SQL, start, end, size, (page - 1) * size)
        total = rows[0][0] if rows else (await self.db.fetch(COUNT_SLOTS_SQL, start, end))[0][0]
        return 200, [_slot(row, 1) for row in rows], _page_headers(total, page, size)

    async def _provider_slots(
        self, params: dict[str, str], start: Any, end: Any, page: int, size: int
    ) -> Reply:
        provider = _int(params, "provider_id")
        rows = await self.db.fetch(PROVIDER_LIST_SQL, provider, start, end, size, (page - 1) * size)
        total = rows[0][0] if rows else 0
        return 200, [_slot(row, 1) for row in rows], _page_headers(total, page, size)

    async def search_slots(self, params: dict[str, str]) -> Reply:
        page, size = _int(params, "page", 1), _int(params, "page_size", 25)
        provider, duration = _int(params, "provider_id"), _int(params, "duration", 1)
        day = _midnight(_day(params, "date"))
        now = datetime.now(UTC)
        args = (provider, self.db.ts(day), self.db.ts(day + timedelta(days=1)), self.db.ts(now))
        rows = await self.db.fetch_quick(SEARCH_SQL, *args, duration, size, (page - 1) * size)
        total = rows[0][0] if rows else 0
        return 200, [_slot(row, 1) for row in rows], _page_headers(total, page, size)

    async def find(self, params: dict[str, str]) -> Reply:
        kind, state = params.get("appointment_type", ""), params.get("licensed_state", "")
        start, end = _midnight(_day(params, "start_date")), _midnight(_day(params, "end_date"))
        types = await self.db.fetch(FIND_TYPE_SQL, kind)
        if not types or not state:
            raise Invalid(422, {"appointment_type": ["is not included in the list"]})
        args = (self.db.ts(start), self.db.ts(end + timedelta(days=1)))
        now = self.db.ts(datetime.now(UTC))
        limit = _int(params, "limit", 10)
        rows = await self.db.fetch(FIND_SQL, *args, now, kind, types[0][0], state, limit)
        return 200, {"options": [_slot(row) for row in rows]}, []

    async def get_slot(self, slot_id: int) -> Reply:
        rows = await self.db.fetch_quick(GET_SQL, slot_id)
        if not rows:
            raise Invalid(404, "Not found")
        return 200, _slot(rows[0]), []

    def _new_slot(self, fields: dict[str, Any]) -> tuple[int, datetime, datetime, str | None]:
        provider = fields.get("provider_id")
        if not isinstance(provider, int) or isinstance(provider, bool):
            raise Invalid(422, {"provider_id": ["can't be blank"]})
        start = _time(fields.get("start_time"), "start_time")
        end = _time(fields.get("end_time"), "end_time")
        if start <= datetime.now(UTC):
            raise Invalid(422, {"start_time": ["must be in the future"]})
        if end <= start:
            raise Invalid(422, {"end_time": ["must be after start time"]})
        return provider, start, end, fields.get("appointment_type")

    async def create_slot(self, fields: dict[str, Any]) -> Reply:
        provider_id, start, end, kind = self._new_slot(fields)
        minutes = int((end - start).total_seconds() // 60)
        now = self.db.ts(datetime.now(UTC))
        async with self.db.transaction() as tx:
            provider = await tx.fetch(PROVIDER_SQL, provider_id)
            if not provider:
                raise Invalid(422, {"provider_id": ["must exist"]})
            inserted = await tx.fetch(
                INSERT_SLOT_SQL, provider_id, self.db.ts(start), self.db.ts(end), minutes, kind, now
            )
        if not inserted:
            raise Invalid(409, "Time slot conflicts with existing availability")
        slot_id, created, updated = inserted[0]
        first, last, _zone = provider[0]
        row = (slot_id, provider_id, _stamp(start), _stamp(end), kind, True, False, None)
        return 201, _slot((*row, created, updated, first, last)), []

    async def _insert_slots(
        self,
        tx: Any,
        provider_id: int,
        slots: list[tuple[datetime, datetime, str | None]],
        series_id: int | None = None,
    ) -> list[int]:
        """One multi-row INSERT; the caller has checked for clashes."""
        ts, now = self.db.ts, self.db.ts(datetime.now(UTC))
        values, args = [], [provider_id, now, series_id, series_id is not None]
        for start, end, kind in slots:
            n = len(args)
            values.append(f"($1, ${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}, false, $4, $3, $2, $2)")
            args += [ts(start), ts(end), int((end - start).total_seconds() // 60), kind]
        sql = (
            "INSERT INTO available_slots (provider_id, start_time, end_time, duration_minutes, "
            "appointment_type, admin_closed, recurring, series_id, created_at, updated_at) VALUES "
            + ", ".join(values)
            + " RETURNING id"
        )
        return [row[0] for row in await tx.fetch(sql, *args)]

    async def _clashing(
        self, tx: Any, provider_id: int, slots: list[tuple[datetime, datetime, str | None]]
    ) -> list[int]:
        """Indexes of ``slots`` overlapping a stored slot or an earlier-starting one of the list.

        One provider's stored slots never overlap, so sorted by start they are sorted by
        end too: a bisection finds the only stored slot that can clash. Walking the new
        slots by start, one clashes with an accepted one exactly when it starts before the
        latest accepted end.
        """
        first, last = min(s[0] for s in slots), max(s[1] for s in slots)
        stored = await tx.fetch(CLASHES_SQL, provider_id, self.db.ts(last), self.db.ts(first))
        busy = sorted((_time(a, "start_time"), _time(b, "end_time")) for a, b in stored)
        busy_ends = [end for _start, end in busy]
        bad: list[int] = []
        latest_end: datetime | None = None
        for index in sorted(range(len(slots)), key=lambda n: slots[n][0]):
            start, end, _kind = slots[index]
            at = bisect.bisect_right(busy_ends, start)
            if (at < len(busy) and busy[at][0] < end) or (latest_end and start < latest_end):
                bad.append(index)
            else:
                latest_end = end if latest_end is None else max(latest_end, end)
        return sorted(bad)

    async def create_batch(self, data: dict[str, Any]) -> Reply:
        provider_id = data.get("provider_id")
        items = data.get("slots")
        if not isinstance(items, list) or not items or len(items) > 500:
            raise Invalid(422, {"slots": ["is invalid"]})
        slots = []
        for item in items:
            _provider, start, end, kind = self._new_slot({**item, "provider_id": provider_id})
            slots.append((start, end, kind))
        assert isinstance(provider_id, int)
        async with self.db.transaction() as tx:
            if not await tx.fetch(PROVIDER_SQL, provider_id):
                raise Invalid(422, {"provider_id": ["must exist"]})
            bad = await self._clashing(tx, provider_id, slots)
            rejected = set(bad)
            keep = [slot for index, slot in enumerate(slots) if index not in rejected]
            ids = await self._insert_slots(tx, provider_id, keep) if keep else []
        errors = [{"index": i, "errors": {"start_time": ["conflicts"]}} for i in bad]
        reply = {"created_slots": len(ids), "failed_slots": len(bad), "slot_ids": ids}
        return 201, {**reply, "errors": errors}, []

    async def create_weekly_series(self, fields: dict[str, Any]) -> Reply:
        provider_id, start, end, kind = self._new_slot(fields)
        until = date.fromisoformat(fields["recurrence_end_date"])
        length = end - start
        async with self.db.transaction() as tx:
            provider = await tx.fetch(PROVIDER_SQL, provider_id)
            if not provider:
                raise Invalid(422, {"provider_id": ["must exist"]})
            first_name, last_name, zone_name = provider[0]
            zone = ZoneInfo(zone_name)
            local = start.astimezone(zone).replace(tzinfo=None)
            occurrences = []
            step = 0
            while (local + timedelta(weeks=step)).date() <= until:
                begin = (local + timedelta(weeks=step)).replace(tzinfo=zone).astimezone(UTC)
                occurrences.append((begin, begin + length, kind))
                step += 1
            if await self._clashing(tx, provider_id, occurrences):
                raise Invalid(409, "Time slot conflicts with existing availability")
            now = self.db.ts(datetime.now(UTC))
            minutes = int(length.total_seconds() // 60)
            series = await tx.fetch(
                INSERT_SERIES_SQL,
                provider_id,
                local,
                minutes,
                zone_name,
                kind,
                until,
                self.db.ts(occurrences[-1][1]),
                len(occurrences),
                now,
            )
            ids = await self._insert_slots(tx, provider_id, occurrences, series[0][0])
        stamp = _stamp(datetime.now(UTC))
        row = (ids[0], provider_id, _stamp(start), _stamp(end), kind, True, True, "weekly")
        return 201, _slot((*row, stamp, stamp, first_name, last_name)), []

    async def create_book(self, fields: dict[str, Any]) -> Reply:
        slot_id, patient_id = fields.get("available_slot_id"), fields.get("patient_id")
        if not isinstance(slot_id, int) or not isinstance(patient_id, int):
            raise Invalid(422, {"available_slot_id": ["can't be blank"]})
        kind, notes = fields.get("appointment_type"), fields.get("notes")
        now = datetime.now(UTC)
        async with self.db.transaction() as tx:
            check = await tx.fetch(BOOK_CHECK_SQL, slot_id, patient_id, self.db.ts(now))
            if not check:
                raise Invalid(422, {"available_slot_id": ["must exist"]})
            if not check[0][1]:
                raise Invalid(422, {"patient_id": ["must exist"]})
            if not check[0][0] or not await tx.fetch(CLAIM_SLOT_SQL, slot_id, self.db.ts(now)):
                raise Invalid(409, "Slot is not available")
            inserted = await tx.fetch(
                INSERT_BOOK_SQL, slot_id, patient_id, kind, notes, self.db.ts(now)
            )
        book_id, created, updated = inserted[0]
        return (
            201,
            {
                "id": book_id,
                "available_slot_id": slot_id,
                "patient_id": patient_id,
                "appointment_type": kind,
                "notes": notes,
                "status": "confirmed",
                "created_at": created,
                "updated_at": updated,
            },
            [],
        )

    async def reschedule_book(self, book_id: int, fields: dict[str, Any]) -> Reply:
        slot_id = fields.get("available_slot_id")
        if not isinstance(slot_id, int):
            raise Invalid(422, {"available_slot_id": ["can't be blank"]})
        now = self.db.ts(datetime.now(UTC))
        async with self.db.transaction() as tx:
            moved = await tx.fetch(MOVE_BOOK_SQL, book_id, slot_id, now)
            if not moved:
                raise Invalid(404, "Not found")
            if not await tx.fetch(CLAIM_FUTURE_SLOT_SQL, slot_id, now):
                raise Invalid(409, "Slot is not available")
            previous, patient_id, kind, notes, count, created, updated = moved[0]
            await tx.fetch(FREE_SLOT_SQL, previous, now)
        return (
            200,
            {
                "id": book_id,
                "available_slot_id": slot_id,
                "patient_id": patient_id,
                "appointment_type": kind,
                "notes": notes,
                "status": "confirmed",
                "rescheduled_from_slot_id": previous,
                "reschedule_count": count,
                "created_at": created,
                "updated_at": updated,
            },
            [],
        )

    async def list_books(self, params: dict[str, str]) -> Reply:
        page, size = _int(params, "page", 1), _int(params, "page_size", 25)
        rows = await self.db.fetch(BOOKS_SQL, size, (page - 1) * size)
        total = rows[0][0] if rows else (await self.db.fetch(COUNT_BOOKS_SQL))[0][0]
        items = [
            {
                "id": r[1],
                "available_slot_id": r[2],
                "patient_id": r[3],
                "appointment_type": r[4],
                "status": r[5],
                "created_at": r[6],
                "updated_at": r[7],
            }
            for r in rows
        ]
        return 200, items, _page_headers(total, page, size)
