"""The answer class of the hot read routes: JSON encoded by ``orjson`` (a 30 KB ListOpRecord answer in ~25 µs,
where ``json`` takes ~350 µs and FastAPI's validate-then-serialize of the response model ~260 µs; measured in
``docs/benchmarks.md``). The route builds the body from the schema's field names; a test per route keeps it equal
to what the response model would produce."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONAnswer(Response):
    """A JSON answer of plain dicts, lists, strings and numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
