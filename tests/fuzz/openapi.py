"""The fuzzer's view of the API: every route with the request schemas it parses, as an OpenAPI document that
Schemathesis generates requests from (valid ones and ones that break the schema).

Routes parse their bodies through OpenBCS's own dependencies, which FastAPI's schema does not see; so the models are
named here, once per route, and :func:`missing_routes` keeps this table complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from openbcs.certs.schemas import DownloadCertQuery, SdkConfigBody, UserCertBody
from openbcs.channels.schemas import (
    BatchAddPeersToChannelRequestBody,
    BatchCreateChannelsRequestBody,
    BatchRemoveOrgsFromChannelRequestBody,
    BatchRemovePeersFromChannelRequestBody,
)
from openbcs.consortium.schemas import (
    BatchInviteMembersToChannelRequestBody,
    DeleteMemberInviteRequestBody,
    HandleNotificationRequestBody,
    QuitUnionFromMemberListRequestBody,
)
from openbcs.governance.schemas import AdminCustodyRequestBody, RejectBody, SignatureBody, SignatureRequestsQuery
from openbcs.iam.schemas import TokenRequest
from openbcs.instances.schemas import CreateRequestBody, DeleteBlockchainQuery, FlavorsQuery, UpdateInstanceRequestBody
from openbcs.monitoring.schemas import (
    EventsQuery,
    ListBcsEventRequestBody,
    ListBcsMetricRequestBody,
    ListEntityMetricRequestBody,
    ListInstanceMetricRequestBody,
    NodeLogsQuery,
)
from openbcs.operations.schemas import ListOpRecordQuery


@dataclass(frozen=True)
class Parsed:
    """What a route reads besides its path: a JSON body (required or not), a multipart form, query parameters."""

    body: type[BaseModel] | None = None
    body_required: bool = True
    multipart: bool = False
    raw_body: str | None = None  # a body the route reads itself: its media type (any JSON object, or text)
    query: type[BaseModel] | None = None
    extra_query: tuple[str, ...] = ()  # query parameters FastAPI itself parses (strings)
    max_length: tuple[tuple[str, int], ...] = ()  # their length limits: values that break them are generated too


ROUTES: dict[str, Parsed] = {
    "Health": Parsed(),
    "Metrics": Parsed(),
    "OpenAPI": Parsed(),
    "Docs": Parsed(),
    # The admin API (served with --admin-token; the fuzzed server has one).
    "AdminReset": Parsed(),
    "AdminExportState": Parsed(),
    "AdminImportState": Parsed(raw_body="application/json"),
    "AdminApply": Parsed(raw_body="text/plain"),
    "KeystoneCreateUserTokenByPassword": Parsed(body=TokenRequest, extra_query=("nocatalog",)),
    "KeystoneListProjects": Parsed(extra_query=("name",), max_length=(("name", 64),)),
    "ListOpRecord": Parsed(query=ListOpRecordQuery),
    "CreateNewBlockchain": Parsed(body=CreateRequestBody),
    "ListBlockchains": Parsed(),
    "ShowBlockchainFlavors": Parsed(query=FlavorsQuery),
    "ShowBlockchainDetail": Parsed(),
    "ShowBlockchainStatus": Parsed(),
    "ShowBlockchainNodes": Parsed(),
    "UpdateInstance": Parsed(body=UpdateInstanceRequestBody),
    "DeleteBlockchain": Parsed(query=DeleteBlockchainQuery),
    "ListQuotas": Parsed(),
    "BatchCreateChannels": Parsed(body=BatchCreateChannelsRequestBody),
    "ListBlockchainChannels": Parsed(),
    "BatchAddPeersToChannel": Parsed(body=BatchAddPeersToChannelRequestBody),
    "BatchRemoveOrgsFromChannel": Parsed(body=BatchRemoveOrgsFromChannelRequestBody),
    "BatchRemovePeersFromChannel": Parsed(body=BatchRemovePeersFromChannelRequestBody),
    "DeleteChannel": Parsed(),
    "ShowChannelConfigHistory": Parsed(),
    "ShowChannelConfigBlock": Parsed(),
    "ShowChannelConfigUpdate": Parsed(),
    "BatchInviteMembersToChannel": Parsed(body=BatchInviteMembersToChannelRequestBody),
    "HandleNotification": Parsed(body=HandleNotificationRequestBody),
    "ListNotifications": Parsed(),
    "ListMembers": Parsed(),
    "DeleteMemberInvite": Parsed(body=DeleteMemberInviteRequestBody),
    "HandleUnionMemberQuitList": Parsed(body=QuitUnionFromMemberListRequestBody),
    "DownloadBlockchainCert": Parsed(query=DownloadCertQuery),
    "DownloadBlockchainSdkConfig": Parsed(body=SdkConfigBody),
    "CreateBlockchainCertByUserName": Parsed(body=UserCertBody, body_required=False),
    "FreezeCert": Parsed(multipart=True),
    "UnfreezeCert": Parsed(multipart=True),
    "ListBcsEvents": Parsed(body=ListBcsEventRequestBody, query=EventsQuery),
    "ListBcsEventsStatistic": Parsed(body=ListBcsEventRequestBody, query=EventsQuery),
    "ListBcsMetric": Parsed(body=ListBcsMetricRequestBody),
    "ListEntityMetric": Parsed(body=ListEntityMetricRequestBody),
    "ListInstanceMetric": Parsed(body=ListInstanceMetricRequestBody),
    "ShowBlockchainNodeLogs": Parsed(query=NodeLogsQuery),
    # Governance (docs/governance.md); a signconfigtx file upload is refused or taken in tests/governance.
    "SwitchAdminCustody": Parsed(body=AdminCustodyRequestBody),
    "ListSignatureRequests": Parsed(query=SignatureRequestsQuery),
    "ShowSignatureRequest": Parsed(),
    "ShowSignatureRequestEnvelope": Parsed(),
    "AddSignatureRequestSignatures": Parsed(body=SignatureBody),
    "RejectSignatureRequest": Parsed(body=RejectBody),
}


@dataclass(frozen=True)
class Route:
    """One served route."""

    name: str
    method: str
    path: str


def served_routes(app: FastAPI, *, console: bool = False) -> list[Route]:
    """Every route the app serves (HEAD aside): the API's, or with ``console=True`` the console's (fuzzed from its
    forms in ``tests/console/test_form_fuzz.py``)."""
    found = []
    for context in iter_route_contexts(app.routes):
        if context.name.startswith("Console") != console:
            continue
        for method in sorted(set(context.methods or ()) - {"HEAD"}):
            found.append(Route(context.name, method, context.path_format))
    return found


def missing_routes(app: FastAPI) -> set[str]:
    """Served routes this table does not describe."""
    return {route.name for route in served_routes(app)} - set(ROUTES)


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    return schema


def _path_parameter(name: str, known: Sequence[str]) -> dict[str, Any]:
    # The ids of the fuzzed tenants' things, so that valid requests get past the lookups; requests that break the
    # schema bring every other string (NUL bytes, slashes, ...).
    schema: dict[str, Any] = {"enum": list(known)} if known else {"type": "string", "minLength": 1}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _limit(max_length: int | None) -> dict[str, Any]:
    return {} if max_length is None else {"maxLength": max_length}


def _query_parameters(parsed: Parsed, components: dict[str, Any]) -> list[dict[str, Any]]:
    limits = dict(parsed.max_length)
    found = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string", **_limit(limits.get(n))}}
        for n in parsed.extra_query
    ]
    if parsed.query is not None:
        schema = _schema(parsed.query, components)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            found.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return found


def _request_body(parsed: Parsed, components: dict[str, Any]) -> dict[str, Any] | None:
    if parsed.raw_body == "application/json":
        return {"required": True, "content": {parsed.raw_body: {"schema": {"type": "object"}}}}
    if parsed.raw_body is not None:
        return {"required": True, "content": {parsed.raw_body: {"schema": {"type": "string"}}}}
    if parsed.multipart:
        form = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        return {"required": False, "content": {"multipart/form-data": {"schema": form}}}
    if parsed.body is None:
        return None
    return {
        "required": parsed.body_required,
        "content": {"application/json": {"schema": _schema(parsed.body, components)}},
    }


def document(routes: Sequence[Route], known: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The OpenAPI document of ``routes``; ``known`` gives the path parameters' real values, by name."""
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        parsed = ROUTES[route.name]
        names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
        parameters = [_path_parameter(name, known.get(name, ())) for name in names]
        parameters += _query_parameters(parsed, components)
        if route.method != "GET":
            parameters.append(
                {"name": "X-Client-Token", "in": "header", "required": False, "schema": {"type": "string"}}
            )
        operation: dict[str, Any] = {
            "operationId": route.name,
            "parameters": parameters,
            "responses": {"200": {"description": "success"}},
        }
        body = _request_body(parsed, components)
        if body is not None:
            operation["requestBody"] = body
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenBCS (fuzz)", "version": "1"},
        "paths": paths,
        "components": {"schemas": components},
    }
