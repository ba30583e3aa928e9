"""The URL's text checked before anything else runs: a path parameter or query value that no database can store (a
NUL byte, ``%00``) is refused with 400 naming the parameter, in the BCS shape (or IAM's under ``/v3``).

Bodies are checked where they are parsed (:func:`openbcs.kernel.validation.parse_json_body`). The app installs
:func:`reject_unstorable_url_text` as a dependency of every route, ahead of authentication: a NUL in a URL says
nothing about the caller or its data, and left to run it would reach the database (a 500 on PostgreSQL).
"""

from __future__ import annotations

from fastapi import Request

from openbcs.kernel import errors
from openbcs.kernel.validation import text_problem


def _first_problem(request: Request) -> tuple[str, str] | None:
    for name, value in request.path_params.items():
        problem = text_problem(str(value))
        if problem:
            return name, problem
    for name, value in request.query_params.multi_items():
        problem = text_problem(name) or text_problem(value)
        if problem:
            return (name if not text_problem(name) else "query parameter name"), problem
    return None


async def reject_unstorable_url_text(request: Request) -> None:
    """400 for a path parameter or query parameter that cannot be stored as text (names the parameter)."""
    found = _first_problem(request)
    if found is None:
        return
    name, problem = found
    if request.url.path.startswith("/v3/"):
        raise errors.iam_bad_request(f"Invalid request: {name} {problem}")
    raise errors.invalid_parameter(name, problem)
