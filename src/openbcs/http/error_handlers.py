"""How errors become answers: BCS errors in their documented shape, IAM errors in IAM's, unknown routes as
``BCS.4040404``, and request-validation failures as BCS errors naming the field."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openbcs.kernel import errors
from openbcs.kernel.validation import to_bcs_error


def is_iam_path(path: str) -> bool:
    """True under ``/v3``: the IAM endpoints, whose every error answers in Keystone's shape (docs/api.md)."""
    return path == "/v3" or path.startswith("/v3/")


def bcs_response(request: Request, error: errors.BCSError) -> JSONResponse:
    """The answer for a BCS error (its code is remembered for the request metrics); under ``/v3`` the same status
    and message in Keystone's shape."""
    request.scope.setdefault("state", {})["error_code"] = error.error.code
    if is_iam_path(request.url.path):
        return iam_response(request, errors.iam_shaped(error))
    return JSONResponse(error.body(), status_code=error.status)


def iam_response(request: Request, error: errors.IAMError) -> JSONResponse:
    """The answer for an IAM error, in Keystone's shape, with its headers (``Retry-After``)."""
    request.scope.setdefault("state", {})["error_code"] = f"IAM.{error.status}"  # for the request metrics
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


async def _on_bcs_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.BCSError)
    return bcs_response(request, exc)


async def _on_iam_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.IAMError)
    return iam_response(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        return bcs_response(request, errors.BCSError(errors.NOT_FOUND))
    return bcs_response(request, errors.BCSError(errors.INVALID_PARAMETER, str(exc.detail)))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI prefixes locations with "path"/"query"/"body"; the client knows its fields by name only.
    return bcs_response(request, to_bcs_error(list(exc.errors()), strip=1))


def install(app: FastAPI) -> None:
    """Register every error handler on ``app``."""
    app.add_exception_handler(errors.BCSError, _on_bcs_error)
    app.add_exception_handler(errors.IAMError, _on_iam_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
