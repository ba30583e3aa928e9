"""Turning request bytes into Pydantic models, and Pydantic's complaints into BCS errors that name the field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticCustomError

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
    "decimal_integer": "an integer in decimal digits, like 5 (no '+', point, '_' or spaces)",
    "true_or_false": "a boolean: true or false",
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


# --- text a database can store ----------------------------------------------------------------------------------
# PostgreSQL's text types cannot hold NUL, and no database driver encodes a lone surrogate: such a string reaching a
# query is a 500 on one database and not the other. Every request string is checked here, before any database work.

NUL_RULE = "must not contain NUL (\\u0000) characters"
SURROGATE_RULE = "must be valid Unicode text (no unpaired surrogates)"


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return NUL_RULE
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_RULE
    return None


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_storable)]
"""A string that any database can store: for models not parsed by :func:`parse_json_body` (the IAM body)."""


def bad_text(value: Any, loc: tuple[int | str, ...] = ()) -> tuple[str, str] | None:
    """The first string in a parsed request (models, lists, dict keys and values) that cannot be stored:
    ``(field path, rule)``, or None."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (field_path(loc), problem) if problem else None
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            found = bad_text(getattr(value, name), (*loc, info.alias or name))
            if found:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            found = bad_text(key, loc) or bad_text(item, (*loc, str(key)))
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = bad_text(item, (*loc, index))
            if found:
                return found
    return None


def _require_storable(parsed: M) -> M:
    found = bad_text(parsed)
    if found is not None:
        raise errors.invalid_parameter(*found)
    return parsed


# --- numbers and booleans in a query string or path, as strictly as in a JSON body ---------------------------------

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")
_DIGITS_MAX = 20  # longer than any 64-bit integer: refused as out of range without converting it


def _decimal_integer(value: Any) -> Any:
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise PydanticCustomError("decimal_integer", "not an integer in decimal digits")
        if len(value) > _DIGITS_MAX:
            raise ValueError("out of range")
        return int(value)
    return value


def _true_or_false(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise PydanticCustomError("true_or_false", "not true or false")
        return value == "true"
    return value


QueryInt = Annotated[int, BeforeValidator(_decimal_integer)]
"""An integer given as text (query string, path): decimal digits only; bound it with ``Field(ge=, le=)``."""
QueryBool = Annotated[bool, BeforeValidator(_true_or_false)]
"""A boolean given as text: exactly ``true`` or ``false`` (what the SDK sends)."""


def parse_json_body(model: type[M], raw: bytes, content_type: str | None) -> M:
    """Validate a JSON request body strictly: no coercion between types, no unknown fields, no string a database
    cannot store."""
    if not raw.strip():
        raise errors.missing_parameter("request body")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise errors.invalid_parameter("Content-Type", f"{media_type or 'none'} is not supported, use application/json")
    try:
        parsed = model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise to_bcs_error(exc) from exc
    return _require_storable(parsed)


def parse_query(model: type[M], params: Mapping[str, str], names: Sequence[str]) -> M:
    """Validate query parameters (``names`` are all the keys given, so repeated or unknown ones are caught)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise errors.invalid_parameter(name, "given more than once")
        seen.add(name)
    try:
        # (NUL bytes in a query never get here: openbcs.http.text_guard refuses them for every route)
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise to_bcs_error(exc) from exc
