"""What routes say about themselves for the API reference (``/openapi.json``, ``/docs``, ``docs/api.md``) beyond
what FastAPI reads from their signatures: the official SDK's method, the error codes each operation can answer with,
and bodies or files the route reads or writes itself. The document is assembled by :mod:`openbcs.openapi`.

``@documented(...)`` goes *below* the router decorator, so it sees the plain function::

    @router.post("/blockchains", name="CreateNewBlockchain", summary="Create an instance")
    @documented(sdk="create_new_blockchain", errors=[errors.DUPLICATE_NAME, errors.QUOTA_EXCEEDED])
    async def create_new_blockchain(...): ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from openbcs.kernel.errors import ErrorCode

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class OperationDoc:
    """The reference metadata of one route."""

    sdk: str | None
    errors: tuple[ErrorCode, ...]
    tag: str | None = None
    body: type[BaseModel] | None = None  # a body the route parses itself (not through ``json_body``)
    upload: bool = False  # a multipart form with an optional ``file`` part
    download: str | None = None  # the media type of a file answer (``application/zip``, ...)
    authenticated: bool = True
    status: int = 200
    body_name: str | None = None  # the SDK's name of the body class, where the model is named otherwise


_DOCS: dict[Callable[..., Any], OperationDoc] = {}


def documented(
    *,
    sdk: str | None = None,
    errors: Sequence[ErrorCode] = (),
    tag: str | None = None,
    body: type[BaseModel] | None = None,
    upload: bool = False,
    download: str | None = None,
    authenticated: bool = True,
    status: int = 200,
    body_name: str | None = None,
) -> Callable[[F], F]:
    """Record the reference metadata of the decorated route function (returned unchanged)."""

    def register(fn: F) -> F:
        _DOCS[fn] = OperationDoc(sdk, tuple(errors), tag, body, upload, download, authenticated, status, body_name)
        return fn

    return register


def doc_of(endpoint: Callable[..., Any]) -> OperationDoc | None:
    """The metadata recorded for a route's endpoint function, if any."""
    return _DOCS.get(endpoint)
