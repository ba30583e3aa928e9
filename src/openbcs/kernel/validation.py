"""Turning request bytes into Pydantic models, and Pydantic's complaints into BCS errors that name the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from openbcs.kernel import errors

M = TypeVar("M", bound=BaseModel)

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


# Human words for the patterns the schemas use: a client should read the rule, not a regular expression.
_PATTERN_RULES: dict[str, str] = {}


def pattern_rule(pattern: str, rule: str) -> str:
    """Register how to tell a client what ``pattern`` requires; returns the pattern for use in ``Field``."""
    _PATTERN_RULES[pattern] = rule
    return pattern


def field_path(loc: Sequence[int | str]) -> str:
    """``('invited_userinfo', 0, 'invited_user')`` → ``invited_userinfo[0].invited_user``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "request body"


def to_bcs_error(exc: ValidationError | Sequence[Mapping[str, Any]], *, strip: int = 0) -> errors.BCSError:
    """The BCS error for the first problem Pydantic found (``strip`` drops leading ``loc`` parts like "query")."""
    problems = exc.errors() if isinstance(exc, ValidationError) else exc
    first = problems[0]
    kind = str(first["type"])
    field = field_path(tuple(first["loc"])[strip:])
    ctx = first.get("ctx") or {}
    if kind == "json_invalid":
        return errors.BCSError(
            errors.INVALID_BODY, f"Invalid Parameter request body : not valid JSON ({ctx.get('error', '')})"
        )
    if kind == "missing":
        return errors.missing_parameter(field)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return errors.missing_parameter(field)
    if kind == "extra_forbidden":
        return errors.invalid_parameter(field, "unknown field")
    if kind in _TYPE_NAMES:
        return errors.wrong_type(field, _TYPE_NAMES[kind])
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_RULES:
        return errors.invalid_parameter(field, _PATTERN_RULES[str(ctx["pattern"])])
    message = str(first.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return errors.invalid_parameter(field, message)


def parse_json_body(model: type[M], raw: bytes, content_type: str | None) -> M:
    """Validate a JSON request body strictly: no coercion between types, no unknown fields."""
    if not raw.strip():
        raise errors.missing_parameter("request body")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise errors.invalid_parameter("Content-Type", f"{media_type or 'none'} is not supported, use application/json")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise to_bcs_error(exc) from exc


def parse_query(model: type[M], params: Mapping[str, str], names: Sequence[str]) -> M:
    """Validate query parameters (``names`` are all the keys given, so repeated or unknown ones are caught)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise errors.invalid_parameter(name, "given more than once")
        seen.add(name)
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise to_bcs_error(exc) from exc
