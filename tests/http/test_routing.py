"""Every API route carries the dependencies its router declares, though the app adds the routes flat: the URL text
guard on all of them, X-Client-Token on exactly the operations that honour it (and on every route of their routers)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from openbcs.app import CLIENT_TOKEN_OPERATIONS, create_app
from openbcs.http.idempotency import honour_client_token
from openbcs.http.text_guard import reject_unstorable_url_text
from openbcs.kernel.settings import Settings


def _calls(route: APIRoute) -> list[object]:
    return [dependency.call for dependency in route.dependant.dependencies]


def test_every_api_route_checks_its_url_first_and_mutating_ones_honour_client_tokens(settings: Settings) -> None:
    app = create_app(settings)
    api = [r for r in app.router.routes if isinstance(r, APIRoute) and r.path.startswith(("/v2/", "/v3/"))]
    assert len(api) == 44  # every /v2 and /v3 operation in docs/api.md (governance: 6)
    for route in api:
        assert _calls(route)[0] is reject_unstorable_url_text, route.name
    honouring = {route.name for route in api if honour_client_token in _calls(route)}
    assert set(CLIENT_TOKEN_OPERATIONS) <= honouring
