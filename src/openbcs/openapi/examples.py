"""One example request and answer per operation, kept in ``examples.yaml`` beside this module.

Each entry: ``as`` (who sends it in the example tour: ``inviter``, ``invitee`` or ``admin``), ``request`` (``path``
parameters, ``query``, ``body``), ``response`` (the 200 body) and optional ``errors`` (error code → example body).
Ids in the examples are fixed, made-up values; ``tests/openapi`` sends every example request to a live server with
those values replaced by real ones (:data:`PLACEHOLDERS` names them) and checks the documented status."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def _load() -> dict[str, Any]:
    text = resources.files("openbcs.openapi").joinpath("examples.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def examples() -> dict[str, Any]:
    """Operation name → its example."""
    operations = _load()["operations"]
    assert isinstance(operations, dict)
    return operations


def placeholders() -> dict[str, str]:
    """Role of a made-up value (``inviter.project_id``, ...) → the value the examples use."""
    values = _load()["placeholders"]
    assert isinstance(values, dict)
    return {str(k): str(v) for k, v in values.items()}


def tour() -> list[str]:
    """The order in which the examples can be sent to one server, each finding the state the one before left."""
    order = _load()["tour"]
    assert isinstance(order, list)
    return [str(name) for name in order]
