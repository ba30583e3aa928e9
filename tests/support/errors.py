"""Error answers as the spec shapes them: ``{"error_code": "BCS.4xxxxxx", "error_msg": "..."}``."""

from __future__ import annotations

import re

import httpx


def error(response: httpx.Response) -> tuple[int, str, str]:
    """``(status, error_code, error_msg)`` of an error answer."""
    body = response.json()
    return response.status_code, body.get("error_code", ""), body.get("error_msg", "")


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    message: str | None = None,
    *,
    contains: str | None = None,
    matches: str | None = None,
) -> None:
    """The answer is exactly this error: status, code, and (if given) the whole message, a part of it, or a pattern."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}, body
    assert (response.status_code, body["error_code"]) == (status, code), response.text
    if message is not None:
        assert body["error_msg"] == message, body["error_msg"]
    if contains is not None:
        assert contains in body["error_msg"], body["error_msg"]
    if matches is not None:
        assert re.search(matches, body["error_msg"]), body["error_msg"]
