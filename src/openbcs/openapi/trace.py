"""Which error codes a route can answer with, read from the code itself: every function the endpoint (and its
dependencies) names, followed through OpenBCS's modules, and every :class:`~openbcs.kernel.errors.ErrorCode` those
functions name. Names are resolved in each function's own module globals, so the trace sees ``service.create``,
``errors.INSTANCE_BUSY``, ``lookups.get_owned(...)`` and helpers such as ``errors.invalid_parameter``. It is an
over-approximation (a function that names a code may not raise it on every path) and stops at calls through
objects it cannot resolve statically; ``tests/openapi`` checks that every error the test suite provokes is listed."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

from openbcs.kernel.errors import ErrorCode

_PACKAGE = "openbcs."


def _ours(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "") or "").startswith(_PACKAGE)


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """A code object and the code objects nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _referenced(fn: Callable[..., Any]) -> Iterator[Any]:
    """What a function's code names: globals, attributes of modules it names, and closure variables."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return
    namespace: dict[str, Any] = getattr(fn, "__globals__", {})
    names: set[str] = set()
    for nested in _codes(code):
        names.update(nested.co_names)
    modules = [v for k, v in namespace.items() if k in names and isinstance(v, types.ModuleType)]
    for name in names:
        if name in namespace:
            yield namespace[name]
        for module in modules:
            if name in vars(module):
                yield vars(module)[name]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            yield cell.cell_contents
        except ValueError:  # pragma: no cover - an empty cell
            continue


def error_codes(*roots: Callable[..., Any]) -> set[ErrorCode]:
    """Every error code reachable from ``roots`` through OpenBCS functions and classes."""
    found: set[ErrorCode] = set()
    seen: set[int] = set()
    pending: list[Any] = list(roots)
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ErrorCode):
            found.add(item)
        elif inspect.isclass(item) and _ours(item):
            pending.extend(v for v in vars(item).values() if inspect.isfunction(v))
        elif (inspect.isfunction(item) or inspect.ismethod(item)) and _ours(item):
            pending.extend(_referenced(inspect.unwrap(item)))
    return found
