"""Safe retries: an optional ``X-Client-Token`` on a mutating call makes it happen at most once (an OpenBCS extension,
like AWS Managed Blockchain's ClientRequestToken; ``docs/idempotency.md``).

Three parts, each where it can see what it needs:

- :meth:`ClientTokens.dependency` runs after authentication (the token is the caller's project's): a token seen in
  the last 24 hours with the same request answers with the first answer (:class:`Replay`), with another request 409;
  an unseen one is *armed* for this request.
- A unit-of-work hook (SQLAlchemy ``before_commit``) writes the armed token's row into the transaction of the work
  itself, so the work and the token commit together or not at all; two identical requests racing each other cannot
  both commit (the row is unique per project and token: the second insert fails and its work is rolled back).
- :class:`ClientTokenMiddleware` holds the answer back until it is recorded (when the work committed and the answer
  is 2xx), or, when this request lost the race to an identical twin, answers with the twin's answer instead.

A refused call (4xx before anything committed) or a failed one (5xx) leaves no row: its retry is judged afresh.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openbcs.http import client_tokens
from openbcs.http.context import Context, ServerContext
from openbcs.http.deps import CurrentCaller
from openbcs.kernel import errors
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import _WRITE  # the execution option that marks a unit of work's write sessions

HEADER = "x-client-token"
REPLAYED_HEADER = "X-Client-Token-Replayed"
TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TOKEN_RULE = "1 to 64 characters: letters, digits, '-', '_', '.', ':'"  # noqa: S105 - a rule, not a secret
MUTATING = frozenset({"POST", "PUT", "DELETE"})
# How long a retry waits for its twin's answer to be recorded, and after what age a row without one is taken for lost
# (its request committed the work, then the server stopped or failed before recording the answer).
WAIT_SECONDS, WAIT_STEP_SECONDS = 2.0, 0.05
LOST_AFTER_NS = 60 * 1_000_000_000


class Policy(enum.Enum):
    """How a retry of an operation is answered."""

    STORED = "stored"  # the first answer, replayed
    NOT_KEPT = "not-kept"  # the answer carries a secret: never stored, so a retry gets 409 (nothing is done again)


@dataclass
class Claim:
    """One request's token, from the middleware (which saw the header) to the hook (which writes the row)."""

    token: str
    project_id: str = ""
    digest: str = ""
    operation: str = ""
    policy: Policy = Policy.STORED
    armed: bool = False
    added: bool = False
    committed: bool = False
    sessions: list[int] = field(default_factory=list)


_CLAIM: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("openbcs_client_token", default=None)


class Replay(Exception):
    """The dependency found the first answer: the exception handler sends it."""

    def __init__(self, stored: client_tokens.Stored) -> None:
        super().__init__("replayed answer")
        self.stored = stored


def _canonical_body(raw: bytes, content_type: str) -> bytes:
    """The body as compared between retries: JSON by value (key order and spacing ignored), multipart without its
    random boundary, anything else byte for byte."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        try:
            return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            return raw
    boundary = re.search(r"boundary=\"?([^\";]+)", content_type)
    if media_type == "multipart/form-data" and boundary:
        return raw.replace(boundary.group(1).encode("latin-1"), b"BOUNDARY")
    return raw


async def _digest(request: Request, ctx: ServerContext) -> str:
    query = sorted(request.query_params.multi_items())
    canonical = json.dumps([request.method, request.url.path, query]).encode() + b"\n"
    canonical += _canonical_body(await request.body(), request.headers.get("content-type", ""))
    return ctx.server_key.mac("client-token", canonical)


class ClientTokens:
    """The operations that honour ``X-Client-Token`` (route name → :class:`Policy`); others ignore the header."""

    def __init__(self, operations: Mapping[str, Policy]) -> None:
        self.operations = dict(operations)

    async def dependency(self, request: Request, caller: CurrentCaller, ctx: Context) -> None:
        """After authentication: replay, refuse (409), or arm the token for this request's unit of work."""
        claim: Claim | None = request.scope.get("state", {}).get("client_token")
        route = request.scope.get("route")
        policy = self.operations.get(getattr(route, "name", ""))
        if claim is None or policy is None:
            return
        if not TOKEN.fullmatch(claim.token):
            raise errors.invalid_parameter("X-Client-Token", TOKEN_RULE)
        claim.project_id, claim.operation, claim.policy = caller.project_id, getattr(route, "name", ""), policy
        claim.digest = await _digest(request, ctx)
        stored = await ctx.db.read(client_tokens.find, project_id=claim.project_id, token=claim.token, now=now_ns())
        if stored is None:
            claim.armed = True
            return
        raise _answer_for(claim, await _settled(ctx, claim, stored))


def _answer_for(claim: Claim, stored: client_tokens.Stored) -> Exception:
    """What a request whose token was used before gets: the first answer, or 409 saying why not."""
    if stored.request_digest != claim.digest:
        return errors.BCSError(errors.CLIENT_TOKEN_REUSED)
    if stored.status is not None and stored.body is not None:
        return Replay(stored)
    if stored.status is not None:
        return errors.BCSError(
            errors.CLIENT_TOKEN_ANSWER_NOT_KEPT,
            f"{errors.CLIENT_TOKEN_ANSWER_NOT_KEPT.message}: it carried a private key, which is never stored twice. "
            "Call again without X-Client-Token (with security_mode=true the same hosted certificate is returned).",
        )
    if now_ns() - stored.created_time > LOST_AFTER_NS:
        return errors.BCSError(
            errors.CLIENT_TOKEN_ANSWER_NOT_KEPT,
            f"{errors.CLIENT_TOKEN_ANSWER_NOT_KEPT.message}: the server stopped before recording it. "
            "ListOpRecord shows the operation.",
        )
    return errors.BCSError(errors.CLIENT_TOKEN_IN_PROGRESS)


async def _settled(ctx: ServerContext, claim: Claim, stored: client_tokens.Stored) -> client_tokens.Stored:
    """``stored``, or once its answer is recorded (a twin that committed a moment ago), waiting a little for it."""
    waited = 0.0
    while stored.status is None and stored.request_digest == claim.digest and waited < WAIT_SECONDS:
        await asyncio.sleep(WAIT_STEP_SECONDS)
        waited += WAIT_STEP_SECONDS
        found = await ctx.db.read(client_tokens.find, project_id=claim.project_id, token=claim.token, now=now_ns())
        if found is None:  # pragma: no cover - a row never goes within its 24 hours
            break
        stored = found
    return stored


@event.listens_for(Session, "before_commit")
def _write_token_with_the_work(session: Session) -> None:
    """The armed token's row joins the request's write transaction (the unit of work) as it commits."""
    claim = _CLAIM.get()
    if claim is None or not claim.armed or claim.added:
        return
    if not session.get_bind().get_execution_options().get(_WRITE, False):
        return
    claim.added = True  # before the insert: its savepoint must not bring us back here
    try:
        with session.begin_nested():
            client_tokens.add(
                session,
                project_id=claim.project_id,
                token=claim.token,
                request_digest=claim.digest,
                operation=claim.operation,
                now=now_ns(),
            )
    except IntegrityError as exc:
        # An identical twin committed first: this request's work must not commit too.
        raise errors.BCSError(errors.CLIENT_TOKEN_IN_PROGRESS) from exc
    claim.sessions.append(id(session))


@event.listens_for(Session, "after_commit")
def _token_committed(session: Session) -> None:
    claim = _CLAIM.get()
    if claim is not None and id(session) in claim.sessions:
        claim.committed = True


@event.listens_for(Session, "after_rollback")
def _token_rolled_back(session: Session) -> None:
    claim = _CLAIM.get()
    if claim is not None and id(session) in claim.sessions and not claim.committed:
        claim.added = False
        claim.sessions.remove(id(session))


def _replayed(stored: client_tokens.Stored) -> Response:
    assert stored.status is not None
    assert stored.body is not None
    return Response(
        stored.body, status_code=stored.status, media_type=stored.media_type, headers={REPLAYED_HEADER: "true"}
    )


async def _on_replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return _replayed(exc.stored)


class ClientTokenMiddleware:
    """Gives each mutating request with an ``X-Client-Token`` a :class:`Claim`, and holds its answer back until the
    answer is recorded (or replaced by an identical twin's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        token = next((value for name, value in scope["headers"] if name == HEADER.encode()), None)
        if token is None:
            await self.app(scope, receive, send)
            return
        claim = Claim(token=token.decode("latin-1"))
        scope.setdefault("state", {})["client_token"] = claim
        messages: list[Message] = []

        async def hold(message: Message) -> None:
            messages.append(message)

        reset = _CLAIM.set(claim)
        try:
            await self.app(scope, receive, hold)
        finally:
            _CLAIM.reset(reset)
        ctx: ServerContext = scope["app"].state.ctx
        messages = await _settle(ctx, claim, messages)
        for message in messages:
            await send(message)


def _status_and_body(messages: list[Message]) -> tuple[int, str | None, bytes]:
    start = next(m for m in messages if m["type"] == "http.response.start")
    headers = {name.lower(): value for name, value in start.get("headers", [])}
    media_type = headers.get(b"content-type")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return int(start["status"]), media_type.decode("latin-1") if media_type else None, body


async def _settle(ctx: ServerContext, claim: Claim, messages: list[Message]) -> list[Message]:
    """Record the answer of work that committed; a request whose twin did the work answers with the twin's answer."""
    if not claim.armed or not messages:
        return messages
    status, media_type, body = _status_and_body(messages)
    if claim.committed:
        if 200 <= status < 300:
            kept = body if claim.policy is Policy.STORED else None
            await ctx.db.write(
                client_tokens.record,
                project_id=claim.project_id,
                token=claim.token,
                status=status,
                media_type=media_type,
                body=kept,
            )
        return messages
    if status < 400 or status >= 500:
        return messages
    # Refused: the state may be the twin's doing (it holds the instance, or already made the change).
    stored = await ctx.db.read(client_tokens.find, project_id=claim.project_id, token=claim.token, now=now_ns())
    if stored is None:
        return messages
    outcome = _answer_for(claim, await _settled(ctx, claim, stored))
    return _messages_of(_replayed(outcome.stored) if isinstance(outcome, Replay) else _error(outcome))


def _error(exc: Exception) -> Response:
    assert isinstance(exc, errors.BCSError)
    return Response(json.dumps(exc.body()).encode(), status_code=exc.status, media_type="application/json")


def _messages_of(response: Response) -> list[Message]:
    return [
        {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers},
        {"type": "http.response.body", "body": response.body},
    ]


def install(app: FastAPI) -> None:
    """The middleware and the replay handler (the dependency is given to the routers that honour the header)."""
    app.add_exception_handler(Replay, _on_replay)
    app.add_middleware(ClientTokenMiddleware)


async def honour_client_token(request: Request, caller: CurrentCaller, ctx: Context) -> None:
    """The dependency of the routers whose mutating calls honour ``X-Client-Token``: the app's
    :class:`ClientTokens` (``app.state.client_tokens``, set by ``create_app``) decides for the route."""
    tokens: ClientTokens = request.app.state.client_tokens
    await tokens.dependency(request, caller, ctx)
