"""``GET /`` points a newcomer at everything: a page for a browser, JSON for a program.
Unknown routes keep the contract's 404."""

from __future__ import annotations

import httpx

from clinic_availability.version import package_version


async def test_a_browser_gets_a_page_naming_every_entry_point(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    for target in (
        'href="/graphql"',
        'href="/docs"',
        "/v1/admin/clinic/availability",
        'href="/healthz"',
        "X-User-Token",
        "Authorization: Bearer",
        package_version(),
        "create-user",
    ):
        assert target in page, target


async def test_a_program_gets_json(client: httpx.AsyncClient) -> None:
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        response = await client.get("/", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        document = response.json()
        assert document["graphiql"] == "/graphql"
        assert document["rest_reference"] == "/docs"
        assert document["rest_base"] == "/v1/admin/clinic/availability"
        assert document["health"] == "/healthz"
        assert document["version"] == package_version()
        assert "Authorization: Bearer <token>" in document["authentication"]["headers"]


async def test_the_addresses_it_names_answer(client: httpx.AsyncClient) -> None:
    document = (await client.get("/", headers={"Accept": "application/json"})).json()
    for key in ("graphiql", "rest_reference", "openapi", "health"):
        answer = await client.get(document[key], headers={"Accept": "text/html"})
        assert answer.status_code == 200, key


async def test_unknown_routes_keep_the_contract_404(client: httpx.AsyncClient) -> None:
    for path in ("/nowhere", "/v1/admin/clinic/availability/nowhere", "/index.html"):
        response = await client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 404
        assert response.json() == {"errors": "Not found"}
