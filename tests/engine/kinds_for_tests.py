"""Kinds of the engine's own tests: one whose second action writes a row and may fail or crash (with a failure
hook), one that changes nested payload values in place, and the registry that runs them with the diagnostic kind."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from openbcs.engine.diagnostic import DIAGNOSTIC
from openbcs.engine.kinds import OperationContext, OperationFailed, OperationKind, Payload, Registry, Step, SubStep
from openbcs.engine.models import Operation
from openbcs.iam.models import Account

hook_calls: list[tuple[str, str, str, dict[str, Any]]] = []


class HookedPayload(Payload):
    """What the hooked kind's actions and hook read and note."""

    account_name: str
    mode: str | None = None
    first: str | None = None
    second: str | None = None
    cleanup: str | None = None


def _first(_session: Session, ctx: OperationContext[HookedPayload]) -> str:
    ctx.payload.first = "done"
    return "first detail"


def _second(session: Session, ctx: OperationContext[HookedPayload]) -> str:
    # Writes a row of another domain, then behaves as the payload says.
    session.add(Account(id=secrets.token_hex(16), name=ctx.payload.account_name, created_at=1))
    session.flush()
    ctx.payload.second = "partial"
    if ctx.payload.mode == "fail":
        raise OperationFailed("quota exhausted")
    if ctx.payload.mode == "crash":
        raise RuntimeError("a bug in an action")
    return "second detail"


def _on_failure(session: Session, ctx: OperationContext[HookedPayload], message: str) -> None:
    hook_calls.append((ctx.operation_id, ctx.sub_step_name, message, ctx.payload.model_dump(exclude_none=True)))
    ctx.payload.cleanup = message
    session.get_one(Operation, ctx.operation_id).blockchain_name = "cleaned-up"


HOOKED: OperationKind[HookedPayload] = OperationKind(
    name="tests.engine.hooked",
    resource_type="PLUGIN01",
    operation_type="02",
    payload=HookedPayload,
    description="a kind with a failure hook",
    steps=(Step("One", (SubStep("first", _first), SubStep("second", _second))), Step("Two", (SubStep("third"),))),
    on_failure=_on_failure,
)


class NestedPayload(Payload):
    """A list and a mapping the actions change in place."""

    log: list[str]
    counters: dict[str, int]
    fail: bool


def _grow(_session: Session, ctx: OperationContext[NestedPayload]) -> None:
    ctx.payload.log.append(ctx.sub_step_name)
    ctx.payload.counters["runs"] += 1


def _maybe_fail(_session: Session, ctx: OperationContext[NestedPayload]) -> None:
    ctx.payload.log.append(ctx.sub_step_name)
    if ctx.payload.fail:
        ctx.payload.counters["runs"] += 100
        raise OperationFailed("stop here")


def _nested_hook(_session: Session, ctx: OperationContext[NestedPayload], message: str) -> None:
    ctx.payload.log.append(f"hook: {message}")


NESTED: OperationKind[NestedPayload] = OperationKind(
    name="tests.engine.nested",
    resource_type="PLUGIN03",
    operation_type="05",
    payload=NestedPayload,
    steps=(Step("Only", (SubStep("grow", _grow), SubStep("grow-more", _grow), SubStep("maybe-fail", _maybe_fail))),),
    on_failure=_nested_hook,
)

KINDS = Registry([DIAGNOSTIC, HOOKED, NESTED])
