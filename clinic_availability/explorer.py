"""The GraphiQL page at ``/graphql``: self-hosted, with a token field and example operations.

The page loads React, GraphiQL and its own script from ``/static``. The admin token typed
above the editor is kept in the browser's localStorage and sent as ``X-User-Token`` with
every request GraphiQL makes. Introspection is for admins, so the page asks for the
schema only once a token is entered (and again whenever it changes).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from clinic_availability.pages import STATIC_PATH, page_response, root_path, script_json
from models.platform.entities import AvailableSlot, Patient, Provider
from models.platform.timeutil import format_timestamp, now_utc


@dataclass(frozen=True)
class Example:
    """One operation a user can load into the editor; its variables are JSON text."""

    name: str
    title: str
    description: str
    query: str
    variables: str


SLOT_FIELDS = """
      id
      providerId
      startTime
      endTime
      appointmentType
      available
      recurring
      recurrencePattern
      provider { id firstName lastName }"""

EXAMPLES: tuple[Example, ...] = (
    Example(
        name="ListAvailableSlots",
        title="List slots",
        description="Slots in time order, filtered by provider, days or availability; "
        "20 a page (pass pageInfo.endCursor as after for the next).",
        query=f"""query ListAvailableSlots(
  $filter: AvailableSlotFilter
  $first: Int
  $after: String
) {{
  availableSlots(filter: $filter, first: $first, after: $after) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    nodes {{{SLOT_FIELDS}
    }}
  }}
}}
""",
        variables="""{
  "first": 20,
  "filter": { "available": true }
}
""",
    ),
    Example(
        name="SearchAvailableSlots",
        title="Search slots",
        description="Open future slots on a day that are long enough for an appointment.",
        query=f"""query SearchAvailableSlots(
  $providerId: Int
  $date: String
  $duration: Int
  $appointmentType: String
) {{
  searchAvailableSlots(
    providerId: $providerId
    date: $date
    duration: $duration
    appointmentType: $appointmentType
    first: 20
  ) {{
    totalCount
    nodes {{{SLOT_FIELDS}
    }}
  }}
}}
""",
        variables="""{
  "providerId": 1,
  "date": "2030-10-27",
  "duration": 60,
  "appointmentType": "therapy"
}
""",
    ),
    Example(
        name="CreateAvailableSlot",
        title="Create a slot",
        description="Publish one slot; with recurring and a pattern, a weekly series.",
        query=f"""mutation CreateAvailableSlot($input: CreateAvailableSlotInput!) {{
  createAvailableSlot(input: $input) {{{SLOT_FIELDS}
  }}
}}
""",
        variables="""{
  "input": {
    "providerId": 1,
    "startTime": "2030-10-27T14:00:00.000Z",
    "endTime": "2030-10-27T15:00:00.000Z",
    "appointmentType": "therapy",
    "recurring": true,
    "recurrencePattern": "weekly"
  }
}
""",
    ),
    Example(
        name="CreateAvailableSlotsInBatch",
        title="Create slots in a batch",
        description="Several slots of one provider at once; the good ones are created and "
        "the others reported by index. dryRun: true only checks.",
        query="""mutation CreateAvailableSlotsInBatch(
  $input: CreateAvailableSlotsInBatchInput!
  $dryRun: Boolean! = false
) {
  createAvailableSlotsInBatch(input: $input, dryRun: $dryRun) {
    dryRun
    createdSlots
    failedSlots
    slotIds
    errors { index startTime errors }
  }
}
""",
        variables="""{
  "dryRun": false,
  "input": {
    "providerId": 1,
    "slots": [
      {
        "startTime": "2030-10-27T09:00:00.000Z",
        "endTime": "2030-10-27T10:00:00.000Z",
        "appointmentType": "therapy"
      },
      {
        "startTime": "2030-10-27T10:00:00.000Z",
        "endTime": "2030-10-27T11:00:00.000Z",
        "appointmentType": "therapy"
      }
    ]
  }
}
""",
    ),
    Example(
        name="CreateBook",
        title="Book a patient",
        description="Book a patient into an available future slot; the slot is then taken.",
        query="""mutation CreateBook($input: CreateBookInput!) {
  createBook(input: $input) {
    id
    availableSlotId
    patientId
    appointmentType
    status
    notes
    createdAt
  }
}
""",
        variables="""{
  "input": {
    "availableSlotId": 1,
    "patientId": 1,
    "appointmentType": "therapy",
    "notes": "Initial consultation",
    "overrideRules": false
  }
}
""",
    ),
)

# Operations over the WebSocket (the page's fetcher opens one for a subscription).
LIVE_EXAMPLES: tuple[Example, ...] = (
    Example(
        name="WatchAvailability",
        title="Watch availability (subscription)",
        description="Every change to one provider's slots, bookings, holds and time off as "
        "it commits, over a WebSocket; pass an eventId as after to resume after it.",
        query="""subscription WatchAvailability($providerId: Int, $after: String) {
  availabilityChanged(providerId: $providerId, after: $after) {
    eventId
    type
    occurredAt
    providerId
    slotId
    slot { id startTime endTime available }
  }
}
""",
        variables="""{
  "providerId": 1
}
""",
    ),
)


@dataclass(frozen=True, slots=True)
class ClinicFacts:
    """What the examples point at: records that exist and a day ahead."""

    provider_id: int = 1
    patient_id: int = 1
    open_slot_id: int = 1
    day: date = date(2030, 10, 27)


def _at(day: date, hour: int) -> str:
    return format_timestamp(datetime.combine(day, time(hour), tzinfo=UTC))


def _variables(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"


def examples_for(facts: ClinicFacts) -> tuple[Example, ...]:
    """The examples with variables that run as they are against this clinic."""
    day, provider = facts.day, facts.provider_id
    variables = {
        "ListAvailableSlots": {
            "first": 20,
            "filter": {"providerId": provider, "startDate": day.isoformat(), "available": True},
        },
        "SearchAvailableSlots": {"providerId": provider, "date": day.isoformat(), "duration": 45},
        "CreateAvailableSlot": {
            "input": {
                "providerId": provider,
                "startTime": _at(day, 20),
                "endTime": _at(day, 21),
                "appointmentType": "therapy",
            }
        },
        "CreateAvailableSlotsInBatch": {
            "dryRun": False,
            "input": {
                "providerId": provider,
                "slots": [
                    {
                        "startTime": _at(day, 9),
                        "endTime": _at(day, 10),
                        "appointmentType": "therapy",
                    },
                    {
                        "startTime": _at(day, 10),
                        "endTime": _at(day, 11),
                        "appointmentType": "therapy",
                    },
                ],
            },
        },
        "CreateBook": {
            "input": {
                "availableSlotId": facts.open_slot_id,
                "patientId": facts.patient_id,
                "notes": "Initial consultation",
                # Required in the input type (it has a default): the variables editor
                # marks it missing otherwise.
                "overrideRules": False,
            }
        },
    }
    return tuple(
        replace(example, variables=_variables(variables[example.name]))
        if example.name in variables
        else example
        for example in EXAMPLES
    )


async def clinic_facts(request: Request) -> ClinicFacts:
    """The first provider and patient, tomorrow, and the latest open slot ahead."""
    tomorrow = now_utc().date() + timedelta(days=1)
    async with request.app.state.sessionmaker() as session:
        provider_id = await session.scalar(
            select(Provider.id).where(Provider.active).order_by(Provider.id).limit(1)
        )
        patient_id = await session.scalar(
            select(Patient.id).where(Patient.active).order_by(Patient.id).limit(1)
        )
        # The latest open slot: the earlier ones stay free for the list and search examples.
        slot_id = await session.scalar(
            select(AvailableSlot.id)
            .where(
                AvailableSlot.available,
                AvailableSlot.start_time > now_utc(),
                AvailableSlot.provider_id == (provider_id or 1),
            )
            .order_by(AvailableSlot.start_time.desc(), AvailableSlot.id.desc())
            .limit(1)
        )
    return ClinicFacts(
        provider_id=provider_id or 1,
        patient_id=patient_id or 1,
        open_slot_id=slot_id or 1,
        day=tomorrow,
    )


def examples_json(examples: tuple[Example, ...] = EXAMPLES) -> list[dict[str, str]]:
    return [asdict(example) for example in examples]


async def explorer_page(request: Request) -> HTMLResponse:
    base = root_path(request)
    static = escape(f"{base}{STATIC_PATH}")
    examples = (*examples_for(await clinic_facts(request)), *LIVE_EXAMPLES)
    config = {"endpoint": f"{base}/graphql", "examples": examples_json(examples)}
    return page_response(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Clinic Availability · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/vendor/graphiql/graphiql.min.css">
<link rel="stylesheet" href="{static}/explorer/explorer.css">
</head>
<body>
<header class="token-bar">
  <label for="admin-token">Admin token</label>
  <input id="admin-token" type="password" autocomplete="off" spellcheck="false"
    placeholder="printed by: clinic-availability serve --demo">
  <button id="forget-token" type="button">Forget</button>
  <span id="token-state" class="token-state" role="status"></span>
  <span class="token-hint">sent as <code>X-User-Token</code>, kept in this browser only</span>
</header>
<div id="token-help" class="explorer-notice token-help" role="alert" hidden>
  The server refused this token (UNAUTHENTICATED): it is wrong, expired or was revoked.
  Every start of <code>clinic-availability serve --demo</code> mints a new token and revokes
  the one before: open the GraphiQL address it printed last, or paste its last line here.
  Otherwise make a token with <code>clinic-availability create-user --role admin
  --first-name Ada --last-name Admin</code>.
</div>
<div id="live-hint" class="explorer-notice live-hint" role="status" hidden>
  Subscribed: waiting for a change. Nothing shows until one commits: create, change or book
  a slot of this provider (another tab, REST or another client), and each change appears
  here as it happens. The stop button ends the subscription.
</div>
<main id="graphiql">Loading GraphiQL…</main>
<script id="explorer-config" type="application/json">{script_json(config)}</script>
<script src="{static}/vendor/react/react.production.min.js"></script>
<script src="{static}/vendor/react-dom/react-dom.production.min.js"></script>
<script src="{static}/vendor/graphiql/graphiql.min.js"></script>
<script src="{static}/explorer/explorer.js"></script>
</body>
</html>
"""
    )
