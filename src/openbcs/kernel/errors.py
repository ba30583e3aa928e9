"""Every error OpenBCS can answer with, defined once.

BCS errors are rendered as ``{"error_code": "BCS.xxxxxxx", "error_msg": "..."}`` with the HTTP status of their code.
The IAM endpoints (``/v3/...``) answer in Keystone's shape instead, see :class:`IAMError`.
``docs/error-codes.md`` is generated from :data:`CATALOG` (``openbcs errors``) and a test keeps them in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    """One BCS error code: its HTTP status, its default message and when it is used."""

    code: str
    status: int
    message: str
    when: str


CATALOG: dict[str, ErrorCode] = {}


def _code(code: str, status: int, message: str, when: str) -> ErrorCode:
    if code in CATALOG:
        raise ValueError(f"error code {code} defined twice")
    entry = ErrorCode(code, status, message, when)
    CATALOG[code] = entry
    return entry


# --- request shape (400, the 4006xxx parameter family) --------------------------------------------------------
INVALID_BODY = _code(
    "BCS.4006003",
    400,
    "Invalid Parameter",
    "malformed JSON, a JSON value of the wrong type, or a named thing in a state that does not allow the call "
    "(e.g. 'Invalid Parameter notification status', a channel that still has peers)",
)
MISSING_PARAMETER = _code(
    "BCS.4006009",
    400,
    "one of parameters is nil",
    "a mandatory parameter is missing or empty (the field is named)",
)
INVALID_PARAMETER = _code(
    "BCS.4006014",
    400,
    "Invalid Parameter",
    "a parameter breaks its rule: length, pattern, enum, unknown field, unsupported Content-Type",
)
BODY_TOO_LARGE = _code(
    "BCS.4000013", 400, "request body is too large", "the request body is over 12 MB; nothing more is read"
)

# --- instances (the 4001xxx family) ------------------------------------------------------------------------------
INSTANCE_CREATING = _code(
    "BCS.4001001",
    400,
    "Operation failed. The BCS service is being created.",
    "a mutating call on an instance being created",
)
INSTANCE_UPGRADING = _code(
    "BCS.4001002", 400, "Operation failed. The BCS service is being upgraded.", "a mutating call during an upgrade"
)
INSTANCE_DELETING = _code(
    "BCS.4001003",
    400,
    "Operation failed. The BCS service is being deleted.",
    "a mutating call on an instance being deleted",
)
INSTANCE_NOT_FOUND = _code(
    "BCS.4001011",
    400,
    "Operation failed. The service does not exist or has been deleted. Refresh the page.",
    "an unknown instance id, or one of another tenant (which is never distinguished from unknown)",
)
DUPLICATE_NAME = _code(
    "BCS.4001018",
    400,
    "Operation failed. A service with the same name already exists. Enter another name and try again.",
    "an instance name already used in the project",
)
INSTANCE_BUSY = _code(
    "BCS.4001020",
    400,
    "Operation failed. The service status is abnormal or the service is being processed. Try again later.",
    "a mutating call while another operation runs on the instance (scaling, adding, channel changes), or on an "
    "Abnormal instance",
)
QUOTA_EXCEEDED = _code(
    "BCS.4001021", 400, "Operation failed. The instance quota is used up.", "creating an instance over the quota"
)
ORG_NOT_FOUND = _code("BCS.4001051", 400, "Input org is not exist", "an organisation name the instance does not have")
CHANNEL_NOT_FOUND = _code("BCS.4001052", 400, "Input channel is not exist", "a channel name the instance does not have")
ALREADY_INVITED = _code(
    "BCS.4001060",
    400,
    "Invitation failed. The tenant has already been invited to this channel.",
    "inviting a tenant that has an invitation to the channel in a non-final state (waiting, joining, joined, quitting)",
)
MEMBERSHIP_NOT_FOUND = _code(
    "BCS.4001061",
    400,
    "Operation failed. The consortium membership does not exist.",
    "quitting, or deleting an invitation, that matches no invitation of the caller",
)
TOO_MANY_PENDING = _code(
    "BCS.4001063",
    400,
    "Invitation failed. The tenant already has too many invitations of this instance waiting for an answer.",
    "inviting a tenant that has 5 invitations of the same consortium instance waiting (over its channels)",
)
NOTIFICATION_NOT_FOUND = _code(
    "BCS.4001062",
    400,
    "Operation failed. The notification does not exist.",
    "handling a notification the caller did not receive",
)
ACTION_REFUSED = _code(
    "BCS.4006005",
    400,
    "ActOnDetailNotification fail",
    "handling a notification that is not waiting for an answer (already agreed, rejected, cancelled, ...); a "
    "cert_type other than admin, user, ca ('keyType error, keyType: ... not supported')",
)
INVALID_CHANNEL_NAME = _code(
    "BCS.4006012",
    400,
    "Invalid channel name.",
    "a channel name that is not 4-24 lower-case letters and digits starting with a letter (the published table says "
    "status 100, a slip for 400)",
)

# --- authentication and tenancy ----------------------------------------------------------------------------------
UNAUTHORIZED = _code(
    "BCS.4010401",
    401,
    "Incorrect token or token resolution failed",
    "no credentials, or a token/signature that is malformed, expired, tampered with or wrongly signed",
)
FORBIDDEN = _code(
    "BCS.4030403",
    403,
    "No permissions to request this method",
    "the authenticated identity's project is not the project_id in the path",
)

# --- safe retries: X-Client-Token (an OpenBCS extension, docs/idempotency.md) ------------------------------------
CLIENT_TOKEN_REUSED = _code(
    "BCS.4090409",
    409,
    "Conflict: the X-Client-Token was used for a different request",
    "an X-Client-Token given again within 24 hours with another method, path, query or body (the token names one "
    "request; use a new token for a new request)",
)
CLIENT_TOKEN_IN_PROGRESS = _code(
    "BCS.4091001",
    409,
    "Conflict: the request with this X-Client-Token is still being processed; retry shortly",
    "a retry that arrives while the first request with its X-Client-Token has not answered yet",
)
CLIENT_TOKEN_ANSWER_NOT_KEPT = _code(
    "BCS.4091002",
    409,
    "Conflict: the request with this X-Client-Token was done, but its answer is not kept",
    "a retry of a request that was done but whose answer cannot be replayed: it carried a private key (never "
    "stored twice), or the server stopped between doing the work and recording the answer; nothing is done again",
)

# --- routing and server ------------------------------------------------------------------------------------------
NOT_FOUND = _code("BCS.4040404", 404, "Not Found:the url is not found", "unknown URL or method")
INTERNAL = _code("BCS.5000500", 500, "Internal Server Error", "an unexpected failure; logged with the request id")
UNAVAILABLE = _code(
    "BCS.5030503",
    503,
    "Service Unavailable",
    "the server is starting or stopping (health check), or has --max-connections connections open (any request, "
    "answered before the app: docs/limits.md)",
)
DATABASE_BUSY = _code(
    "BCS.5030001",
    503,
    "Service Unavailable: the database is busy, retry the request later.",
    "the request waited --database-lock-wait-seconds for a database lock held by another process or transaction "
    "(e.g. a backup holding SQLite's write lock); nothing was changed",
)


class BCSError(Exception):
    """An error answered to the client in the BCS shape."""

    def __init__(self, error: ErrorCode, message: str | None = None) -> None:
        self.error = error
        self.message = (message or error.message)[:512]
        super().__init__(f"{error.code}: {self.message}")

    @property
    def status(self) -> int:
        """HTTP status of this error."""
        return self.error.status

    def body(self) -> dict[str, Any]:
        """The JSON body the client gets."""
        return {"error_code": self.error.code, "error_msg": self.message}


def invalid_parameter(field: str, reason: str) -> BCSError:
    """A parameter that breaks its rule, worded like the cloud's ``Invalid Parameter quotasType : ecs``."""
    return BCSError(INVALID_PARAMETER, f"Invalid Parameter {field} : {reason}")


def missing_parameter(field: str) -> BCSError:
    """A mandatory parameter that is absent or empty."""
    return BCSError(MISSING_PARAMETER, f"one of parameters is nil: {field}")


def wrong_type(field: str, expected: str) -> BCSError:
    """A JSON value of the wrong type."""
    return BCSError(INVALID_BODY, f"Invalid Parameter {field} : expected {expected}")


class IAMError(Exception):
    """An error of the IAM endpoints (``/v3/...``), answered in Keystone's ``{"error": {...}}`` shape."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.title = title
        self.message = message
        self.headers = headers or {}  # e.g. Retry-After of a 429
        super().__init__(f"{status} {title}: {message}")

    def body(self) -> dict[str, Any]:
        """The JSON body the client gets."""
        return {"error": {"code": self.status, "title": self.title, "message": self.message}}


def iam_unauthorized(message: str = "The username or password is wrong.") -> IAMError:
    """Wrong password, unknown user or disabled user on ``POST /v3/auth/tokens``."""
    return IAMError(401, "Unauthorized", message)


def iam_locked() -> IAMError:
    """``POST /v3/auth/tokens`` for a user name locked after too many wrong passwords (IAM's account lockout)."""
    return IAMError(401, "Unauthorized", "The account is locked.")


def iam_bad_request(message: str) -> IAMError:
    """A malformed IAM request."""
    return IAMError(400, "Bad Request", message)


def iam_too_many_requests(message: str, *, retry_after: int) -> IAMError:
    """``POST /v3/auth/tokens`` over a source's or an account name's login rate (docs/auth.md): retry after
    ``retry_after`` seconds."""
    return IAMError(429, "Too Many Requests", message, {"Retry-After": str(max(1, retry_after))})


def iam_shaped(error: BCSError) -> IAMError:
    """A BCS error met under ``/v3`` (a body too large, a query parameter too long, the database busy, a crash),
    answered in Keystone's shape like every IAM answer: its status, the status's title and the message."""
    try:
        title = HTTPStatus(error.status).phrase
    except ValueError:
        title = "Error"
    return IAMError(error.status, title, error.message)


def catalog_markdown() -> str:
    """The table of every BCS error code, as kept in ``docs/error-codes.md``."""
    lines = [
        "# Error codes OpenBCS answers with",
        "",
        "Generated by `openbcs errors`; `tests/http/test_error_model.py` fails when this file and the code differ.",
        'Every BCS error body is `{"error_code": ..., "error_msg": ...}`; the message below is the default, many',
        "answers put the offending field or value into it. The IAM endpoints (`/v3/...`) answer in Keystone's shape",
        '`{"error": {"code": 401, "title": "Unauthorized", "message": ...}}`, every error under `/v3` included (a',
        "code of this table met there keeps its status and message). Too many logins (`docs/auth.md`) answer",
        '`429 {"error": {"code": 429, "title": "Too Many Requests", "message": ...}}` with `Retry-After`; being an',
        "IAM answer, it has no BCS code (the spec gives none).",
        "",
        "| HTTP | error_code | default error_msg | when |",
        "|---|---|---|---|",
    ]
    for entry in sorted(CATALOG.values(), key=lambda e: (e.status, e.code)):
        lines.append(f"| {entry.status} | {entry.code} | {entry.message} | {entry.when} |")
    return "\n".join(lines) + "\n"


def wrong_state(subject: str, reason: str | None = None) -> BCSError:
    """A named thing whose state does not allow the call: ``Invalid Parameter notification status``."""
    return BCSError(INVALID_BODY, f"Invalid Parameter {subject} status" + (f" : {reason}" if reason else ""))
