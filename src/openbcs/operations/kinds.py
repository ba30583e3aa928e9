"""The registry of operation kinds. A domain registers each asynchronous call it offers, with its steps.

A sub-step's action runs inside the worker's transaction, so its database effects commit together with the
sub-step's completion, or not at all; an action that raises :class:`OperationFailed` fails the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from openbcs.keys import ServerKey


class OperationFailed(Exception):
    """Raised by an action: the operation ends ``failed`` with this message."""


@dataclass
class OperationContext:
    """What an action is given about its operation; changes to ``payload`` are saved with the step."""

    operation_id: str
    domain_id: str
    project_id: str
    blockchain_id: str | None
    payload: dict[str, Any]
    step_name: str
    sub_step_name: str
    # The server key, for actions that store secrets (the PKI's private keys); None where no server runs.
    server_key: ServerKey | None = None


Action = Callable[[Session, OperationContext], str | None]
FailureHook = Callable[[Session, OperationContext, str], None]


@dataclass(frozen=True)
class SubStep:
    """A unit of work shown in the operation record; ``action`` returns the sub-step's detail text."""

    name: str
    action: Action | None = None


@dataclass(frozen=True)
class Step:
    """A named group of sub-steps."""

    name: str
    sub_steps: tuple[SubStep, ...]


@dataclass(frozen=True)
class OperationKind:
    """One kind of asynchronous operation, with the resource/operation types ListOpRecord reports."""

    name: str
    resource_type: str
    operation_type: str
    steps: tuple[Step, ...]
    on_failure: FailureHook | None = None
    description: str = ""
    # Every sub-step in the order it runs; the stored serial_num (1-based) indexes it.
    sub_steps_in_order: tuple[SubStep, ...] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.operation_type) != 2 or not self.operation_type.isdigit():
            raise ValueError("operation_type is two digits")
        flat = tuple(sub_step for step in self.steps for sub_step in step.sub_steps)
        object.__setattr__(self, "sub_steps_in_order", flat)


_KINDS: dict[str, OperationKind] = {}


def register(kind: OperationKind) -> OperationKind:
    """Register a kind (idempotent for the same object, an error for a different one of the same name)."""
    existing = _KINDS.get(kind.name)
    if existing is not None and existing is not kind:
        raise ValueError(f"operation kind {kind.name!r} registered twice")
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> OperationKind | None:
    """The kind registered under ``name``, if this process has it."""
    return _KINDS.get(name)


def names() -> list[str]:
    """Names of every kind this process can run."""
    return sorted(_KINDS)
