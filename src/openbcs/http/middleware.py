"""ASGI middleware: request ids, one log line per request, the body-size limit, HEAD served as GET, and the
last-resort 500.

Written as plain ASGI (no ``BaseHTTPMiddleware``) because it runs on every request and must not cost a task switch.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openbcs.http.error_handlers import is_iam_path
from openbcs.kernel import errors

MAX_BODY_BYTES = 12 * 1024 * 1024
log = logging.getLogger("openbcs.request")


def _json_response_messages(status: int, body: dict[str, Any], request_id: str) -> tuple[Message, Message]:
    payload = json.dumps(body).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-request-id", request_id.encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": payload}


def _error_body(scope: Scope, error: errors.BCSError) -> dict[str, Any]:
    """The error's body in the BCS shape, or in Keystone's under ``/v3`` (every IAM answer is)."""
    return errors.iam_shaped(error).body() if is_iam_path(scope["path"]) else error.body()


Observer = Callable[..., None]


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-Id`` on every response), logs it, counts it (``observer``), and turns
    crashes into 500s."""

    def __init__(self, app: ASGIApp, observer: Observer | None = None) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        database_error = False
        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client went away while its body was being read: nothing to answer, nothing went wrong here.
            status = 499
        except Exception as exc:
            database_error = isinstance(exc, SQLAlchemyError)
            state["error_code"] = "IAM.500" if is_iam_path(scope["path"]) else errors.INTERNAL.code
            log.exception("unexpected error in request %s %s %s", request_id, scope["method"], scope["path"])
            if not response_started:
                error = errors.BCSError(errors.INTERNAL)
                for message in _json_response_messages(500, _error_body(scope, error), request_id):
                    await send(message)
            status = 500
        finally:
            identity = state.get("identity")
            duration = time.perf_counter() - started
            operation = getattr(scope.get("route"), "name", None)
            if self.observer is not None:
                self.observer(
                    operation=operation,
                    method=scope["method"],
                    status=status,
                    error_code=state.get("error_code"),
                    seconds=duration,
                    database_error=database_error,
                )
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(duration * 1000, 3),
                    "project_id": getattr(identity, "project_id", None),
                    "operation": operation,
                },
            )


class BodyLimitMiddleware:
    """Refuses bodies over 12 MB: at once when Content-Length says so, else as soon as the count passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    error = errors.BCSError(errors.BODY_TOO_LARGE)
                    scope.setdefault("state", {})["error_code"] = error.error.code
                    request_id = scope.get("state", {}).get("request_id", "")
                    start, body = _json_response_messages(400, _error_body(scope, error), request_id)
                    # The request id header is added by the outer middleware's send wrapper.
                    start["headers"] = [h for h in start["headers"] if h[0] != b"x-request-id"]
                    await send(start)
                    await send(body)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise errors.BCSError(errors.BODY_TOO_LARGE)
            return message

        await self.app(scope, counting_receive, send)


_HEAD = "openbcs.head"  # scope key: the client sent HEAD, served as GET


def request_method(scope: Scope) -> str:
    """The method the client sent: ``HEAD`` for a HEAD request that :class:`HeadMiddleware` serves as ``GET`` (what
    an AK/SK signature covers)."""
    return "HEAD" if scope.get(_HEAD) else str(scope["method"])


class HeadMiddleware:
    """HEAD on any GET route answers as that GET would, status and headers (``Content-Length`` included), without a
    body (RFC 9110 9.3.2): the routes are declared for GET only, and FastAPI does not add HEAD to them.

    The request goes down as GET (so routing, the console's pages and static files treat it as one) in a copy of
    the scope that also says the client sent HEAD, for the signature check (:func:`request_method`). The server's own
    scope still says HEAD (uvicorn then expects no body), and the route found is copied back for the log line and
    the metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            await send(message)

        as_get = {**scope, "method": "GET", _HEAD: True}
        try:
            await self.app(as_get, receive, without_body)
        finally:
            if "route" in as_get:
                scope["route"] = as_get["route"]
