"""IAM endpoints: Keystone v3 password tokens and the project list the SDK uses to discover its project id."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from openbcs.http.context import Context
from openbcs.http.openapi import documented
from openbcs.http.routing import API_DEPENDENCIES
from openbcs.iam import login, service
from openbcs.iam.authentication import authenticate
from openbcs.iam.login_gate import ADMITTED, client_source
from openbcs.iam.schemas import (
    CatalogEntry,
    DomainRef,
    Endpoint,
    ProjectInfo,
    ProjectList,
    ProjectRef,
    RoleRef,
    TokenBody,
    TokenRequest,
    TokenResponse,
    UserRef,
)
from openbcs.kernel import errors
from openbcs.kernel.clock import utcnow
from openbcs.kernel.validation import field_path

router = APIRouter(prefix="/v3", dependencies=API_DEPENDENCIES)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def _catalog(base_url: str, region: str) -> list[CatalogEntry]:
    base = base_url.rstrip("/")
    return [
        CatalogEntry(
            id=_stable_id("service", kind),
            name=kind,
            type=kind,
            endpoints=[
                Endpoint(
                    id=_stable_id("endpoint", kind, region),
                    interface="public",
                    region=region,
                    region_id=region,
                    url=base + suffix,
                )
            ],
        )
        for kind, suffix in (("bcs", "/v2/$(tenant_id)s"), ("iam", "/v3"))
    ]


@router.post("/auth/tokens", name="KeystoneCreateUserTokenByPassword", status_code=201)
@documented(body=TokenRequest, authenticated=False, status=201)
async def create_token(
    request: Request, ctx: Context, nocatalog: Annotated[str | None, Query()] = None
) -> JSONResponse:
    """Issue a project-scoped token for a user's password; the token travels in ``X-Subject-Token``."""
    try:
        body = TokenRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise errors.iam_bad_request(
            f"Invalid request body: {field_path(tuple(problem['loc']))}: {problem['msg']}"
        ) from exc
    password = body.auth.identity.password
    assert password is not None  # guaranteed by the model
    scope = body.auth.scope.project
    if password.user.domain.name is None:
        raise errors.iam_bad_request("auth.identity.password.user.domain.name is required")
    source = client_source(request.scope)
    issued = await login.password_token(
        ctx.db,
        user_name=password.user.name,
        domain_name=password.user.domain.name or "",
        password=password.user.password,
        project_id=scope.id,
        project_name=scope.name,
        source=source,
        source_admitted=request.scope.get("state", {}).get(ADMITTED) == source,
        settings=ctx.settings,
        server_key=ctx.server_key,
        now=utcnow(),
    )
    who = issued.caller
    domain = DomainRef(id=who.domain_id, name=who.domain_name)
    token = TokenBody(
        expires_at=_iso(issued.expires_at),
        issued_at=_iso(issued.issued_at),
        methods=list(issued.methods),
        project=ProjectRef(id=who.project_id, name=who.project_name, domain=domain),
        user=UserRef(id=who.user_id, name=who.user_name, domain=domain),
        roles=[RoleRef(id=_stable_id("role", "te_admin"), name="te_admin")],
        catalog=None if nocatalog else _catalog(str(request.base_url), ctx.settings.region),
    )
    return JSONResponse(
        TokenResponse(token=token).model_dump(exclude_none=True),
        status_code=201,
        headers={"X-Subject-Token": issued.token},
    )


@router.get("/projects", name="KeystoneListProjects")
@documented()
async def list_projects(
    request: Request, ctx: Context, name: Annotated[str | None, Query(max_length=64)] = None
) -> ProjectList:
    """The caller's projects (the SDK calls this with ``?name=<region>`` when it is given no project id)."""
    try:
        caller = await authenticate(request, ctx, None)
    except errors.BCSError as exc:  # an IAM endpoint answers in IAM's shape
        raise errors.iam_unauthorized("The request you have made requires authentication.") from exc
    projects = await ctx.db.read(service.projects_named, domain_id=caller.domain_id, name=name)
    return ProjectList(
        projects=[ProjectInfo(id=p.id, name=p.name, domain_id=p.domain_id, parent_id=p.domain_id) for p in projects]
    )
