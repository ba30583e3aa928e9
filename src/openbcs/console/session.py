"""The console's session and CSRF protection.

The session is the IAM token that ``POST /v3/auth/tokens`` would have issued, kept in an HttpOnly, SameSite=Strict
cookie, Secure when the request's scheme is https (``pages.set_cookie``): served over TLS (``--tls-cert``, ``--tls
self-signed``), or behind a proxy listed in ``--forwarded-allow-ips`` that says ``X-Forwarded-Proto: https``
(docs/tls.md); every page checks it with the API's own token check, so a password change, a disabled user
or the token's expiry ends the console session too. Forms carry a double-submit CSRF token: the HMAC of the session
cookie under a key derived from the server key, which a page of another site can neither read nor compute. Before
sign-in the cookie bound to is a random pre-session nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from openbcs.http.context import Context
from openbcs.iam import tokens
from openbcs.iam.failures import AuthenticationError
from openbcs.kernel.caller import Caller
from openbcs.kernel.clock import utcnow
from openbcs.kernel.keys import ServerKey

SESSION_COOKIE = "openbcs_console"
PRE_SESSION_COOKIE = "openbcs_console_pre"
CSRF_FIELD = "csrf_token"
CSRF_PURPOSE = "console-csrf"
# Bounds on what a console form may send: the largest (instance creation) has fewer than 40 fields.
FORM_FIELDS_MAX = 100


class SignInRequired(Exception):
    """No valid session: the route class sends the browser to the sign-in page (``expired`` says why)."""

    def __init__(self, *, expired: bool) -> None:
        super().__init__("sign-in required")
        self.expired = expired


class CsrfRefused(Exception):
    """A form post without the CSRF token of its session: refused before anything runs."""


def csrf_token(server_key: ServerKey, binding: str) -> str:
    """The CSRF token of a session (or pre-session) cookie value."""
    mac = hmac.new(server_key.derive(CSRF_PURPOSE), binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_matches(server_key: ServerKey, binding: str | None, given: object) -> bool:
    """Whether ``given`` is the CSRF token of ``binding`` (constant time; False for anything missing)."""
    if not binding or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(csrf_token(server_key, binding), given)


def new_pre_session() -> str:
    """A random pre-session value (the sign-in form's CSRF binding)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Session:
    """The signed-in caller, the token it signed in with and the CSRF token of its forms."""

    caller: Caller
    token: str
    csrf: str


async def current_session(request: Request, ctx: Context) -> Session:
    """The caller of the session cookie, checked exactly as an ``X-Auth-Token`` is; else :class:`SignInRequired`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(expired=False)
    try:
        caller = await ctx.db.read_rows_autocommit(
            tokens.authenticate_token, token=token, server_key=ctx.server_key, now=utcnow()
        )
    except AuthenticationError as exc:
        raise SignInRequired(expired=True) from exc
    request.scope.setdefault("state", {})["identity"] = caller  # the request log names the project
    session = Session(caller, token, csrf_token(ctx.server_key, token))
    request.state.console_session = session  # error pages rendered by the route class keep the navigation
    return session


ConsoleSession = Annotated[Session, Depends(current_session)]


async def read_form(request: Request) -> FormData:
    """The posted form (URL-encoded or multipart), bounded in fields and files."""
    return await request.form(max_files=1, max_fields=FORM_FIELDS_MAX)


async def checked_form(request: Request, session: ConsoleSession, ctx: Context) -> FormData:
    """The posted form of a signed-in caller, after its CSRF token was checked against the session."""
    form = await read_form(request)
    if not csrf_matches(ctx.server_key, session.token, form.get(CSRF_FIELD)):
        raise CsrfRefused
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
