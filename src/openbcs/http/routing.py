"""The dependencies every API router declares itself. The app adds the routers' routes flat (FastAPI would match an
included router in a second, nested pass on every request), and a route added flat keeps only what it was declared
with — so the routers carry them, and ``tests/http/test_routing.py`` checks every API route has them."""

from __future__ import annotations

from fastapi import Depends

from openbcs.http.idempotency import honour_client_token
from openbcs.http.text_guard import reject_unstorable_url_text

# First, before authentication: a URL no database can store never reaches one.
API_DEPENDENCIES = [Depends(reject_unstorable_url_text)]
# Routers with mutating calls: X-Client-Token replayed, refused or armed after authentication (docs/idempotency.md).
MUTATING_API_DEPENDENCIES = [*API_DEPENDENCIES, Depends(honour_client_token)]
