"""Rendering: the Jinja2 environment (templates shipped in the package), pages, redirects with a one-time flash
message, and the route class that turns a missing session, a refused CSRF token and BCS errors into pages."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.fernet import InvalidToken
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from openbcs.console.session import CSRF_FIELD, SESSION_COOKIE, CsrfRefused, Session, SignInRequired
from openbcs.http.context import ServerContext
from openbcs.kernel import errors
from openbcs.kernel.clock import iso_time
from openbcs.kernel.validation import to_bcs_error

log = logging.getLogger("openbcs.console")
PREFIX = "/console"
FLASH_COOKIE = "openbcs_console_flash"
FLASH_PURPOSE = "console-flash"
FLASH_SECONDS = 120
# Errors that mean "nothing of yours is there": the console answers them with its not-found page, as the API never
# tells another tenant's resource from a missing one.
NOT_FOUND_CODES = {
    errors.INSTANCE_NOT_FOUND.code,
    errors.CHANNEL_NOT_FOUND.code,
    errors.ORG_NOT_FOUND.code,
    errors.NOT_FOUND.code,
    errors.NOTIFICATION_NOT_FOUND.code,
    errors.MEMBERSHIP_NOT_FOUND.code,
}


def _time(ns: int | None) -> str:
    return iso_time(ns).replace("T", " ").replace("Z", " UTC") if ns else ""


def _ms_time(ms: int | None) -> str:
    return _time(ms * 1_000_000) if ms else ""


ENV = Environment(
    loader=PackageLoader("openbcs.console", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["time"] = _time
ENV.filters["ms_time"] = _ms_time
ENV.filters["slug"] = lambda name: re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-")
ENV.globals["PREFIX"] = PREFIX
ENV.globals["CSRF_FIELD"] = CSRF_FIELD


def is_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS (cookies are then Secure)."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, path /console, Secure over TLS."""
    response.set_cookie(
        name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict", secure=is_tls(request)
    )


def ctx_of(request: Request) -> ServerContext:
    """The server context (for helpers that get only the request)."""
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _flash_of(request: Request) -> dict[str, str] | None:
    sealed = request.cookies.get(FLASH_COOKIE)
    if not sealed:
        return None
    try:
        raw = ctx_of(request).server_key.fernet(FLASH_PURPOSE).decrypt(sealed.encode(), ttl=FLASH_SECONDS)
        found = json.loads(raw)
    except (InvalidToken, ValueError, UnicodeError):
        return None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else None


def render(
    request: Request,
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    """A page: ``template`` with the caller, its CSRF token and the pending flash message (then cleared)."""
    flash = _flash_of(request)
    html = ENV.get_template(template).render(
        caller=session.caller if session else None,
        csrf=session.csrf if session else context.pop("csrf", ""),
        flash=flash,
        path=request.url.path,
        title=title,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def fragment(template: str, **context: Any) -> HTMLResponse:
    """A part of a page that ``console.js`` swaps in (no navigation, and no flash message taken: it stays for the
    page it belongs to)."""
    response = HTMLResponse(ENV.get_template(template).render(**context))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def redirect(
    request: Request,
    url: str,
    *,
    text: str = "",
    kind: str = "info",
    form: str = "",
    field: str = "",
    operation: str = "",
) -> RedirectResponse:
    """303 to ``url`` (after a form post), with a flash message shown once there (``form``: next to which form;
    ``operation``: an operation id in ``text``, shown as a link to its page)."""
    response = RedirectResponse(url, status_code=303)
    if text:
        message = {"text": text, "kind": kind, "form": form, "field": field, "operation": operation}
        sealed = ctx_of(request).server_key.fernet(FLASH_PURPOSE).encrypt(json.dumps(message).encode())
        set_cookie(request, response, FLASH_COOKIE, sealed.decode(), max_age=FLASH_SECONDS)
    return response


def back_with_error(
    request: Request,
    url: str,
    exc: errors.BCSError,
    *,
    form: str,
    field: str = "",
    gone: tuple[str, ...] = (errors.INSTANCE_NOT_FOUND.code,),
) -> Response:
    """Back to the page of an inline form, its error (the API's code and message) shown next to it; an error in
    ``gone`` (the page's own instance is not the caller's) is raised again, for the not-found page."""
    if exc.error.code in gone:
        raise exc
    return redirect(request, url, text=f"{exc.message} ({exc.error.code})", kind="error", form=form, field=field)


def safe_next(target: str | None) -> str:
    """A console path to go to after sign-in; anything else (another site, a scheme) becomes the overview."""
    if not target:
        return f"{PREFIX}/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(f"{PREFIX}/") or "\\" in target:
        return f"{PREFIX}/"
    return target


def session_of(request: Request) -> Session | None:
    """The session checked for this request, if any (for pages rendered outside the route's own code)."""
    found: Session | None = getattr(request.state, "console_session", None)
    return found


def not_found(request: Request, session: Session | None = None) -> HTMLResponse:
    """The console's not-found page (also for another tenant's resources)."""
    return render(request, "not_found.html", session or session_of(request), status=404, title="Not found")


def _sign_in_redirect(request: Request, expired: bool) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = f"{PREFIX}/"
    url = f"{PREFIX}/sign-in?next={quote(target, safe='')}" + ("&expired=1" if expired else "")
    response = RedirectResponse(url, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def error_page(request: Request, exc: errors.BCSError) -> Response:
    """A BCS error that no form handled: not-found page, or the error with the API's code and message."""
    if exc.error.code in NOT_FOUND_CODES:
        return not_found(request)
    return render(
        request,
        "error.html",
        session_of(request),
        status=exc.status,
        title="Refused",
        code=exc.error.code,
        message=exc.message,
    )


class ConsoleRoute(APIRoute):
    """Console routes answer HTML: no session → sign-in page; refused CSRF → 403 page; BCS error → its page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return _sign_in_redirect(request, exc.expired)
            except CsrfRefused:
                log.info("console form refused: missing or wrong CSRF token on %s", request.url.path)
                return render(request, "csrf.html", session_of(request), status=403, title="Form refused")
            except errors.BCSError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:  # a query parameter out of its bounds: the API's words, in HTML
                return error_page(request, to_bcs_error(list(exc.errors()), strip=1))

        return console_handler


def field_errors(exc: errors.BCSError, fields_by_code: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{field path: message}`` for a refused form: the field the API's message names (``Invalid Parameter
    peer_orgs[0].name : ...``, ``one of parameters is nil: name``), else the form field given for the error code,
    else ``""`` (the form as a whole)."""
    message = f"{exc.message} ({exc.error.code})"
    for prefix, stop in (("Invalid Parameter ", " : "), ("one of parameters is nil: ", None)):
        if exc.message.startswith(prefix):
            rest = exc.message[len(prefix) :]
            field = rest.split(stop, 1)[0] if stop else rest
            if field and " " not in field and field != "request":
                return {field: message}
    return {(fields_by_code or {}).get(exc.error.code, ""): message}
