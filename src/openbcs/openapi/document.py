"""The OpenAPI 3.1 document of a running OpenBCS app, assembled from its routes: paths and parameters from FastAPI's
routes, request and response schemas from the Pydantic models the routes parse and answer with, the SDK's names and
the file answers from :func:`openbcs.http.openapi.documented`, error codes traced from the code
(:mod:`openbcs.openapi.trace`) and one example request and answer per operation (``examples.yaml``)."""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from openbcs import __version__
from openbcs.http.openapi import OperationDoc, doc_of
from openbcs.kernel import errors
from openbcs.kernel.errors import ErrorCode
from openbcs.openapi import text
from openbcs.openapi.examples import examples
from openbcs.openapi.trace import error_codes

REF = "#/components/schemas/{model}"
_TAGS = {
    "consortium": "Consortium members",
    "instances": "Instances",
    "channels": "Channels",
    "certs": "Certificates",
    "monitoring": "Monitoring",
    "operations": "Operations",
    "iam": "IAM (Keystone v3)",
    "admin": "Admin (OpenBCS)",
}
EXTENSIONS = "OpenBCS extensions"
BCS_ERROR = {
    "type": "object",
    "required": ["error_code", "error_msg"],
    "properties": {
        "error_code": {"type": "string", "pattern": r"^BCS\.\d{7}$", "examples": ["BCS.4006014"]},
        "error_msg": {"type": "string", "maxLength": 512},
    },
}
KEYSTONE_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "integer"}, "title": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every FastAPI route of ``app`` (included routers flattened), in the order they were added."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI before included routers became lazy
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [c.route for c in iter_route_contexts(app.routes) if isinstance(c.route, APIRoute)]


def _dependency_model(route: APIRoute, kind: str) -> type[BaseModel] | None:
    """The model a ``json_body``/``optional_json_body``/``query`` dependency of the route parses."""
    for dependency in route.dependant.dependencies:
        call = dependency.call
        if call is not None and getattr(call, "__qualname__", "") == f"{kind}.<locals>.dependency":
            model = inspect.getclosurevars(call).nonlocals.get("model")
            if isinstance(model, type) and issubclass(model, BaseModel):
                return model
    return None


@dataclass
class _Schemas:
    """Component schemas collected from models; a name is reused only for the same schema."""

    components: dict[str, Any] = field(default_factory=dict)

    def ref(self, model: type[BaseModel], mode: str, name: str | None = None) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for nested, definition in schema.pop("$defs", {}).items():
            self._add(nested, definition)
        name = name or model.__name__
        self._add(name, {**schema, "title": name})
        return {"$ref": REF.format(model=name)}

    def _add(self, name: str, schema: dict[str, Any]) -> None:
        known = self.components.setdefault(name, schema)
        if _shape(known) != _shape(schema):
            raise ValueError(f"two different schemas are both named {name}: rename one of the models")


def _shape(schema: Any) -> Any:
    """A schema without its prose: two models that differ only in their docstrings are the same component."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def _tag(route: APIRoute, doc: OperationDoc | None) -> str:
    if doc is not None and doc.tag:
        return doc.tag
    if route.path.startswith("/v3/"):
        return _TAGS["iam"]
    if doc is None or doc.sdk is None:
        return EXTENSIONS
    return _TAGS[route.endpoint.__module__.split(".")[1]]


# Safe retries (docs/idempotency.md): the optional header of every operation that honours it, and its answers.
CLIENT_TOKEN_ERRORS = (errors.CLIENT_TOKEN_REUSED, errors.CLIENT_TOKEN_IN_PROGRESS, errors.CLIENT_TOKEN_ANSWER_NOT_KEPT)
CLIENT_TOKEN_PARAMETER = {
    "name": "X-Client-Token",
    "in": "header",
    "required": False,
    "description": "OpenBCS extension: makes a retry of this call safe. The same token with the same request within "
    "24 hours answers with the first answer without doing the work again; with another request, 409.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
    "x-openbcs-extension": True,  # not a parameter of the cloud's API (nor of its SDK)
}


def _errors_of(
    route: APIRoute, doc: OperationDoc | None, has_body: bool, has_query: bool, client_token: bool
) -> list[ErrorCode]:
    """Traced codes plus what every request of this kind can meet before or around the route's own code."""
    found = error_codes(route.endpoint, *(d.call for d in route.dependant.dependencies if d.call is not None))
    found.add(errors.INTERNAL)
    if "{" in route.path:  # openbcs.http.text_guard: a path parameter no database can store (a NUL byte)
        found.add(errors.INVALID_PARAMETER)
    if client_token:  # openbcs.http.idempotency
        found |= {errors.INVALID_PARAMETER, *CLIENT_TOKEN_ERRORS}
    found.add(errors.DATABASE_BUSY)  # any call may wait too long for a database lock held elsewhere
    found.update(doc.errors if doc else ())
    if doc is None or doc.authenticated:
        found |= {errors.UNAUTHORIZED, errors.FORBIDDEN}
    if has_body:
        found |= {errors.BODY_TOO_LARGE, errors.INVALID_BODY, errors.MISSING_PARAMETER, errors.INVALID_PARAMETER}
    if has_query:
        found.add(errors.INVALID_PARAMETER)
    return sorted(found, key=lambda e: (e.status, e.code))


def _error_responses(codes: list[ErrorCode], example_of: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in sorted({c.status for c in codes}):
        mine = [c for c in codes if c.status == status]
        responses[str(status)] = {
            "description": "; ".join(f"`{c.code}` {c.when}" for c in mine),
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model="BCSError")},
                    "examples": {
                        c.code: {
                            "summary": c.message,
                            "value": example_of.get(c.code) or {"error_code": c.code, "error_msg": c.message},
                        }
                        for c in mine
                    },
                }
            },
        }
    return responses


def _flat(dependant: Any, kind: str) -> list[Any]:
    """The route's and its dependencies' parameters of one kind (``path_params``, ``query_params``)."""
    found = list(getattr(dependant, kind))
    for sub in dependant.dependencies:
        found.extend(p for p in _flat(sub, kind) if p.name not in {q.name for q in found})
    return found


def _parameters(route: APIRoute, query_model: type[BaseModel] | None, example: dict[str, Any]) -> list[Any]:
    params: list[dict[str, Any]] = []
    path_params = {p.name: p for p in _flat(route.dependant, "path_params")}  # ``project_id`` is the caller's
    for name in re.findall(r"{(\w+)}", route.path):
        param = path_params[name]
        kind = {"type": "integer"} if param.field_info.annotation is int else {"type": "string"}
        entry = {"name": param.name, "in": "path", "required": True, "schema": kind}
        if param.name in example.get("path", {}):
            entry["example"] = example["path"][param.name]
        params.append(entry)
    for param in _flat(route.dependant, "query_params"):
        params.append({"name": param.name, "in": "query", "required": False, "schema": {"type": "string"}})
    if query_model is not None:
        schema = query_model.model_json_schema(ref_template=REF)
        for name, prop in schema.get("properties", {}).items():
            entry = {"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop}
            if name in example.get("query", {}):
                entry["example"] = example["query"][name]
            params.append(entry)
    return params


def _operation(route: APIRoute, method: str, schemas: _Schemas, client_tokens: frozenset[str]) -> dict[str, Any]:
    doc = doc_of(route.endpoint)
    example = examples().get(route.name, {})
    body_model = _dependency_model(route, "json_body") or (doc.body if doc else None)
    optional_body = _dependency_model(route, "optional_json_body")
    query_model = _dependency_model(route, "query")
    docstring = inspect.getdoc(route.endpoint) or ""
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary or docstring.split("\n")[0],
        "description": docstring,
        "tags": [_tag(route, doc)],
    }
    if doc is not None and doc.sdk:
        camel = "".join(part.title() for part in doc.sdk.split("_"))
        operation["x-sdk-method"] = doc.sdk
        operation["x-sdk-request-class"] = f"{camel}Request"
        operation["x-sdk-response-class"] = f"{camel}Response"
    parameters = _parameters(route, query_model, example.get("request", {}))
    if route.name in client_tokens:
        parameters.append(CLIENT_TOKEN_PARAMETER)
    if parameters:
        operation["parameters"] = parameters
    request = example.get("request", {})
    if body_model is not None or optional_body is not None:
        model = body_model or optional_body
        assert model is not None
        content: dict[str, Any] = {"schema": schemas.ref(model, "validation", doc.body_name if doc else None)}
        if "body" in request:
            content["example"] = request["body"]
        operation["requestBody"] = {"required": body_model is not None, "content": {"application/json": content}}
    elif doc is not None and doc.upload:
        operation["requestBody"] = {
            "required": False,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "title": f"{route.name}RequestBody",
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary", "description": text.UPLOAD}},
                    }
                }
            },
        }
    elif "text" in request or "body_from" in request:
        media_type = request.get("media", "application/json")
        described: dict[str, Any] = {"schema": {"type": "string" if "text" in request else "object"}}
        if "text" in request:
            described["example"] = request["text"]
        operation["requestBody"] = {"required": True, "content": {media_type: described}}
    status = str(doc.status if doc else 200)
    answer: dict[str, Any] = {"description": text.SUCCESS.get(route.name, "Success")}
    if doc is not None and doc.download:
        answer["content"] = {doc.download: {"schema": {"type": "string", "format": "binary"}}}
    elif inspect.isclass(route.response_model) and issubclass(route.response_model, BaseModel):
        media: dict[str, Any] = {"schema": schemas.ref(route.response_model, "serialization")}
        if "response" in example:
            media["example"] = example["response"]
        answer["content"] = {"application/json": media}
    elif "response" in example:
        answer["content"] = {"application/json": {"example": example["response"]}}
    if route.path.startswith("/v3/"):
        operation["responses"] = {status: answer, **text.keystone_errors(route.name)}
        return operation
    codes = _errors_of(
        route,
        doc,
        body_model is not None or optional_body is not None or bool(doc and doc.upload),
        query_model is not None,
        route.name in client_tokens,
    )
    operation["x-error-codes"] = [c.code for c in codes]
    operation["responses"] = {status: answer, **_error_responses(codes, example.get("errors", {}))}
    if route.path.startswith("/openbcs/admin/"):
        operation["security"] = [{"admin": []}]
    elif doc is None or doc.authenticated:
        operation["security"] = [{"token": []}, {"aksk": []}]
    return operation


def build(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``."""
    schemas = _Schemas()
    schemas.components["BCSError"] = BCS_ERROR
    schemas.components["KeystoneError"] = KEYSTONE_ERROR
    paths: dict[str, dict[str, Any]] = {}
    client_tokens = frozenset(getattr(getattr(app.state, "client_tokens", None), "operations", ()))
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            paths.setdefault(route.path, {})[method.lower()] = _operation(route, method, schemas, client_tokens)
    used_tags = {op["tags"][0] for item in paths.values() for op in item.values()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OpenBCS — Blockchain Service (BCS) v2 management API",
            "version": __version__,
            "description": text.INTRODUCTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [{"name": t, "description": text.TAGS.get(t, "")} for t in text.TAG_ORDER if t in used_tags],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": copy.deepcopy(text.SECURITY),
        },
    }
