"""One example request and answer per operation: the requests in ``examples.yaml`` beside this module, the answers
recorded from a real run into ``responses.json`` by ``python -m tests.openapi.record`` (ids made up again).

An entry of ``examples.yaml``: ``as`` (who sends it in the example tour: ``inviter``, ``invitee``, ``admin`` or
``anonymous``), ``request`` (``path`` parameters, ``query``, ``body``; or ``text`` and ``media`` for a non-JSON
body), ``capture`` (answer fields whose real values replace a made-up one from then on) and optional ``errors``
(error code → example body). Ids in the examples are made-up values (:func:`placeholders` names them);
``tests/openapi`` sends every example request to a live server with the real ones and checks the documented
status."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def _load() -> dict[str, Any]:
    here = resources.files("openbcs.openapi")
    data = yaml.safe_load(here.joinpath("examples.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    recorded = json.loads(here.joinpath("responses.json").read_text(encoding="utf-8"))
    for name, answer in recorded.items():
        data["operations"][name]["response"] = answer
    return data


def examples() -> dict[str, Any]:
    """Operation name → its example (the request from ``examples.yaml``, the answer from ``responses.json``)."""
    operations = _load()["operations"]
    assert isinstance(operations, dict)
    return operations


def placeholders() -> dict[str, str]:
    """Role of a made-up value (``inviter.project_id``, ...) → the value the examples use."""
    values = _load()["placeholders"]
    assert isinstance(values, dict)
    return {str(k): str(v) for k, v in values.items()}


def tour() -> list[Any]:
    """The order in which the examples can be sent to one server, each finding the state the one before left: an
    operation's name, or a setup request (``setup``, ``as``, ``method``, ``path``, ``body``, ``capture``)."""
    order = _load()["tour"]
    assert isinstance(order, list)
    return order
