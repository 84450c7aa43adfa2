"""``GET /``: where everything is, as a page for a browser and as JSON for a program."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request, Response

from clinic_availability.pages import page_response, root_path
from clinic_availability.version import package_version
from common.tokens import TOKEN_HEADER
from rest_compat.responses import JSONBody
from rest_compat.router import BASE_PATH

TITLE = "Clinic Availability"


def landing_document(base: str) -> dict[str, Any]:
    return {
        "name": TITLE,
        "version": package_version(),
        "graphql": f"{base}/graphql",
        "graphiql": f"{base}/graphql",
        "rest_base": f"{base}{BASE_PATH}",
        "rest_reference": f"{base}/docs",
        "openapi": f"{base}/openapi.json",
        "fhir": f"{base}/fhir",
        "health": f"{base}/healthz",
        "readiness": f"{base}/readyz",
        "authentication": {
            "headers": [f"{TOKEN_HEADER}: <token>", "Authorization: Bearer <token>"],
            "tokens": "clinic-availability create-user --role admin (or serve --demo)",
        },
    }


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def landing_page(document: dict[str, Any]) -> str:
    def link(key: str, label: str, what: str) -> str:
        href = escape(document[key])
        return f'<li><a href="{href}">{escape(label)}</a> <code>{href}</code>: {what}</li>'

    headers = " or ".join(
        f"<code>{escape(h)}</code>" for h in document["authentication"]["headers"]
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE}</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
  padding: 0 1rem; color: #1f2933; }}
code {{ background: #f1f3f5; padding: 0 .25em; border-radius: 3px; }}
li {{ margin: .4rem 0; }}
</style>
</head>
<body>
<h1>{TITLE} <small id="version">{escape(document["version"])}</small></h1>
<p>The admin API of a telehealth clinic: when providers are available, and bookings.</p>
<ul>
{link("graphiql", "GraphiQL", "GraphQL in the browser, with ready examples")}
{link("rest_reference", "REST reference", "every REST route, with <em>Try it out</em>")}
<li>REST base <code>{escape(document["rest_base"])}</code></li>
{link("openapi", "OpenAPI document", "the REST routes, machine-readable")}
{link("health", "Health", "<code>/healthz</code> liveness, <code>/readyz</code> readiness")}
</ul>
<p>Every request needs an admin token, sent as {headers}.
<code>clinic-availability create-user --role admin</code> makes one;
<code>clinic-availability serve --demo</code> prints one on every start.</p>
</body>
</html>
"""


def landing_router() -> APIRouter:
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def landing(request: Request) -> Response:
        document = landing_document(root_path(request))
        if _wants_html(request):
            return page_response(landing_page(document))
        return JSONBody(document)

    return router
