"""The engine's diagnostic operation kind, run only with ``OPENBCS_ENABLE_TEST_KINDS=1``.

Its actions append ``<operation id> <sub-step> <pid>`` to the file named in the payload (``effects_file``) — a side
effect outside the database, so tests can see how often each sub-step really ran, across processes and restarts.
``fail_at`` names a sub-step that fails, for tests of the failure path.
"""

from __future__ import annotations

import os

from sqlalchemy.orm import Session

from openbcs.engine.kinds import OperationContext, OperationFailed, OperationKind, Payload, Step, SubStep

KIND = "test.diagnostic"


class DiagnosticPayload(Payload):
    """Where to record effects, where to fail, and which sub-steps ran so far."""

    effects_file: str | None = None
    fail_at: str | None = None
    ran: list[str] = []


def _record_effect(_session: Session, ctx: OperationContext[DiagnosticPayload]) -> str:
    if ctx.payload.fail_at == ctx.sub_step_name:
        raise OperationFailed(f"injected failure at {ctx.sub_step_name}")
    if ctx.payload.effects_file:
        with open(ctx.payload.effects_file, "a", encoding="utf-8") as handle:
            handle.write(f"{ctx.operation_id} {ctx.sub_step_name} {os.getpid()}\n")
    ctx.payload.ran.append(ctx.sub_step_name)
    return f"ran in process {os.getpid()}"


DIAGNOSTIC: OperationKind[DiagnosticPayload] = OperationKind(
    name=KIND,
    resource_type="BCSSVC01",
    operation_type="98",
    payload=DiagnosticPayload,
    description="diagnostic operation of the engine's tests",
    steps=(
        Step("Preparation", (SubStep("prepare-a", _record_effect), SubStep("prepare-b", _record_effect))),
        Step("Execution", (SubStep("execute-a", _record_effect), SubStep("execute-b", _record_effect))),
        Step("Completion", (SubStep("complete-a", _record_effect), SubStep("complete-b", _record_effect))),
    ),
)
