"""Signing in and out, the overview, and operations with their steps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from openbcs.console import views
from openbcs.console.pages import PREFIX, ConsoleRoute, not_found, render, safe_next, set_cookie
from openbcs.console.session import (
    CSRF_FIELD,
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    CheckedForm,
    ConsoleSession,
    CsrfRefused,
    csrf_matches,
    csrf_token,
    new_pre_session,
    read_form,
)
from openbcs.engine import records
from openbcs.http.context import Context
from openbcs.iam import login
from openbcs.iam.login_gate import client_source
from openbcs.iam.schemas import TokenRequest
from openbcs.kernel import errors
from openbcs.kernel.clock import utcnow

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PRE_SESSION_SECONDS = 3600
SIGN_IN_FIELDS = ("domain", "user", "password")


def _sign_in_page(
    request: Request, ctx: Context, *, next_url: str, status: int = 200, error: str = "", values: dict[str, str]
) -> Response:
    pre = request.cookies.get(PRE_SESSION_COOKIE) or new_pre_session()
    response = render(
        request,
        "sign_in.html",
        None,
        status=status,
        title="Sign in",
        csrf=csrf_token(ctx.server_key, pre),
        next_url=next_url,
        error=error,
        values=values,
        expired=bool(request.query_params.get("expired")),
        signed_out=bool(request.query_params.get("signed_out")),
    )
    set_cookie(request, response, PRE_SESSION_COOKIE, pre, max_age=PRE_SESSION_SECONDS)
    return response


@router.get("/sign-in", name="ConsoleSignInPage")
async def sign_in_page(
    request: Request, ctx: Context, next_url: Annotated[str | None, Query(alias="next", max_length=2048)] = None
) -> Response:
    """The sign-in form: account (domain) name, user name, password."""
    return _sign_in_page(request, ctx, next_url=safe_next(next_url), values={})


@router.post("/sign-in", name="ConsoleSignIn")
async def sign_in(request: Request, ctx: Context) -> Response:
    """Check the password exactly as ``POST /v3/auth/tokens`` does (IAM's token issuance, its rules and refusals)
    and keep the token in the session cookie."""
    form = await read_form(request)
    if not csrf_matches(ctx.server_key, request.cookies.get(PRE_SESSION_COOKIE), form.get(CSRF_FIELD)):
        raise CsrfRefused
    values = {name: str(form.get(name) or "") for name in SIGN_IN_FIELDS}
    next_url = safe_next(str(form.get("next") or ""))
    shown = {"domain": values["domain"], "user": values["user"]}
    try:
        body = TokenRequest.model_validate(
            {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": values["user"].strip(),
                                "password": values["password"],
                                "domain": {"name": values["domain"].strip()},
                            }
                        },
                    },
                    "scope": {"project": {"name": ctx.settings.region}},
                }
            }
        )
        if not all(values.values()):
            raise ValueError("every field is needed")
    except (ValidationError, ValueError):
        error = "Enter the account name, the user name (at most 64 characters each) and the password."
        return _sign_in_page(request, ctx, next_url=next_url, status=400, error=error, values=shown)
    password = body.auth.identity.password
    assert password is not None  # the model requires it
    # The same rule as iam/routes.py's create_token (scrypt off the event loop, lock-out): one service function.
    try:
        issued = await login.password_token(
            ctx.db,
            user_name=password.user.name,
            domain_name=password.user.domain.name or "",
            password=password.user.password,
            project_id=None,
            project_name=ctx.settings.region,
            source=client_source(request.scope),
            settings=ctx.settings,
            server_key=ctx.server_key,
            now=utcnow(),
        )
    except errors.IAMError as exc:
        return _sign_in_page(request, ctx, next_url=next_url, status=exc.status, error=exc.message, values=shown)
    response = RedirectResponse(next_url, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, issued.token, max_age=ctx.settings.token_lifetime_seconds)
    response.delete_cookie(PRE_SESSION_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out", name="ConsoleSignOut")
async def sign_out(request: Request, _form: CheckedForm) -> Response:
    """Forget the session cookie and go back to the sign-in page."""
    response = RedirectResponse(f"{PREFIX}/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/", name="ConsoleOverview")
async def overview(request: Request, ctx: Context, session: ConsoleSession) -> Response:
    """Instances, quota use, active alarms and running operations of the caller's project."""
    found = await ctx.db.read(views.overview, caller=session.caller)
    return render(request, "overview.html", session, title="Overview", overview=found)


@router.get("/operations", name="ConsoleOperations")
async def operations(
    request: Request, ctx: Context, session: ConsoleSession, page: Annotated[str, Query(max_length=9)] = "1"
) -> Response:
    """The project's operations, newest first, a page at a time."""
    number = int(page) if page.isdigit() else 1
    found = await ctx.db.read(views.operations, project_id=session.caller.project_id, page=number)
    running = await ctx.db.read(views.running_operations, project_id=session.caller.project_id)
    return render(request, "operations.html", session, title="Operations", found=found, running=running)


@router.get("/operations/{operation_id}", name="ConsoleOperation")
async def operation(request: Request, ctx: Context, session: ConsoleSession, operation_id: str) -> Response:
    """One operation with its steps and sub-steps; the page refreshes itself while it runs."""
    record = await ctx.db.read(records.get_record, project_id=session.caller.project_id, operation_id=operation_id)
    if record is None:
        return not_found(request, session)
    return render(request, "operation.html", session, title=f"Operation {operation_id}", record=record)
