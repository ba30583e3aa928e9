"""From posted forms to the API's request models: the console builds the JSON body the API would receive and parses
it with the API's own strict parser, so a form is judged by exactly the rules (and messages) of the API call."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.datastructures import FormData

from openbcs.kernel.validation import parse_json_body

M = TypeVar("M", bound=BaseModel)


def text(form: FormData, name: str) -> str:
    """A text field, trimmed ("" when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def secret(form: FormData, name: str) -> str:
    """A password field as typed (never trimmed: spaces may be part of it)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def number(form: FormData, name: str) -> int | str | None:
    """A number field: an int, the text itself when it is not one (the API's parser then names the field and says
    it expects an integer), or None when empty."""
    value = text(form, name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def checked(form: FormData, name: str) -> bool:
    """A checkbox."""
    return text(form, name) in ("on", "true", "1")


def chosen(form: FormData, name: str) -> list[str]:
    """Every non-empty value of a repeated field (checkboxes of one name), in order."""
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def put(data: dict[str, Any], name: str, value: Any) -> None:
    """Set ``value`` unless it is None or ""."""
    if value is not None and value != "":
        data[name] = value


def api_body(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as the API would have received it, parsed by the API's own strict parser (BCS errors naming the
    field, exactly as the API answers them)."""
    return parse_json_body(model, json.dumps(data).encode(), "application/json")


def kept(form: FormData, *, without: tuple[str, ...] = ()) -> dict[str, str]:
    """The form's text values to show again after a refusal (passwords left out)."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k not in without}
