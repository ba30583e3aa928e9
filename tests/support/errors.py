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


REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def request_id_of(response: httpx.Response) -> str:
    """The answer's ``X-Request-Id``, which every answer carries (asserted present and 32 hex digits)."""
    request_id = response.headers.get("X-Request-Id", "")
    assert REQUEST_ID.match(request_id), f"no X-Request-Id on {response.status_code}: {response.headers}"
    return request_id


def assert_unauthorized(response: httpx.Response) -> None:
    """401 ``BCS.4010401``: the one answer for a request whose credentials prove nothing (with its request id)."""
    assert_error(response, 401, "BCS.4010401", "Incorrect token or token resolution failed")
    request_id_of(response)


def assert_forbidden(response: httpx.Response, project_id: str) -> None:
    """403 ``BCS.4030403``: a proven caller acting in ``project_id``, a project not its own (with its request id)."""
    assert_error(response, 403, "BCS.4030403", f"forbidden to project [{project_id}]")
    request_id_of(response)


# The refusals of a call on an instance that is absent or runs another operation: (status, code, message) for
# ``assert_error(response, *INSTANCE_BUSY)``, as docs/error-codes.md gives them.
INSTANCE_NOT_FOUND = (
    400,
    "BCS.4001011",
    "Operation failed. The service does not exist or has been deleted. Refresh the page.",
)
INSTANCE_CREATING = (400, "BCS.4001001", "Operation failed. The BCS service is being created.")
INSTANCE_DELETING = (400, "BCS.4001003", "Operation failed. The BCS service is being deleted.")
INSTANCE_BUSY = (
    400,
    "BCS.4001020",
    "Operation failed. The service status is abnormal or the service is being processed. Try again later.",
)
