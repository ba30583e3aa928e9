"""What an asynchronous operation is made of: its kind (steps of sub-steps, each with an action), its typed payload,
and the registry of the kinds and signal reactions a server runs, built once, explicitly, at app creation.

A sub-step's action runs inside the worker's transaction, so its database effects commit together with the sub-step's
completion, or not at all; an action that raises :class:`OperationFailed` fails the operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from openbcs.kernel.keys import ServerKey

P = TypeVar("P", bound="Payload")
S = TypeVar("S")


class Payload(BaseModel):
    """Base of every kind's payload: what a start records for the actions to read (stored as JSON)."""

    model_config = ConfigDict(extra="forbid")


class OperationFailed(Exception):
    """Raised by an action: the operation ends ``failed`` with this message."""


@dataclass(frozen=True)
class Pending:
    """Returned by an action whose work goes on outside the transaction (nodes starting, an orderer ordering): what
    the action wrote commits (e.g. the work it handed off), its sub-step stays processing with ``detail``, and the
    action runs again after ``retry_seconds`` to look at the outcome."""

    detail: str
    retry_seconds: float = 0.2


Reaction = Callable[[Session, Any], None]


@dataclass
class OperationContext(Generic[P]):
    """What an action is given about its operation; changes to ``payload`` are saved with the sub-step."""

    operation_id: str
    domain_id: str
    project_id: str
    blockchain_id: str | None
    payload: P
    step_name: str
    sub_step_name: str
    # The server key, for actions that store secrets (the PKI's private keys); None where no server runs.
    server_key: ServerKey | None = None
    reactions: Mapping[type[Any], Sequence[Reaction]] = field(default_factory=dict)
    services: Mapping[type[Any], Any] = field(default_factory=dict)

    def service(self, kind: type[S], default: S | None = None) -> S:
        """What the server provided of type ``kind`` (e.g. the runtime's settings), else ``default``."""
        found = self.services.get(kind, default)
        if found is None:
            raise OperationFailed(f"this server provides no {kind.__name__}")
        return cast(S, found)

    def keys(self) -> ServerKey:
        """The server key, for actions that seal or use private keys (fails the operation where there is none)."""
        if self.server_key is None:
            raise OperationFailed("no server key to protect or use the private keys with")
        return self.server_key

    def emit(self, session: Session, signal: object) -> None:
        """Tell the other domains that something happened (e.g. an instance is being removed): every reaction
        registered for the signal's type runs now, in this transaction."""
        for reaction in self.reactions.get(type(signal), ()):
            reaction(session, signal)


Action = Callable[[Session, OperationContext[P]], str | Pending | None]
FailureHook = Callable[[Session, OperationContext[P], str], None]


@dataclass(frozen=True)
class SubStep(Generic[P]):
    """A unit of work shown in the operation record; ``action`` returns the sub-step's detail text."""

    name: str
    action: Action[P] | None = None


@dataclass(frozen=True)
class Step(Generic[P]):
    """A named group of sub-steps."""

    name: str
    sub_steps: tuple[SubStep[P], ...]


@dataclass(frozen=True)
class OperationKind(Generic[P]):
    """One kind of asynchronous operation, with the resource/operation types ListOpRecord reports."""

    name: str
    resource_type: str
    operation_type: str
    payload: type[P]
    steps: tuple[Step[P], ...]
    on_failure: FailureHook[P] | None = None
    description: str = ""
    # Every sub-step in the order it runs; the stored serial_num (1-based) indexes it.
    sub_steps_in_order: tuple[SubStep[P], ...] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.operation_type) != 2 or not self.operation_type.isdigit():
            raise ValueError("operation_type is two digits")
        flat = tuple(sub_step for step in self.steps for sub_step in step.sub_steps)
        object.__setattr__(self, "sub_steps_in_order", flat)


class Registry:
    """The operation kinds a server runs and the reactions to signals, listed once where the app is assembled.

    An operation whose stored kind is not here is failed with a clear message instead of waiting forever.
    """

    def __init__(self, kinds: Iterable[OperationKind[Any]] = ()) -> None:
        self._kinds: dict[str, OperationKind[Any]] = {}
        self._reactions: dict[type[Any], list[Reaction]] = {}
        self._services: dict[type[Any], Any] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: OperationKind[Any]) -> None:
        """Run ``kind`` in this server; two different kinds may not share a name."""
        existing = self._kinds.get(kind.name)
        if existing is not None and existing is not kind:
            raise ValueError(f"operation kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def react(self, signal: type[S], reaction: Callable[[Session, S], None]) -> None:
        """Run ``reaction`` whenever an action emits a ``signal``."""
        self._reactions.setdefault(signal, []).append(reaction)

    def provide(self, service: object) -> None:
        """Make ``service`` available to every action as ``ctx.service(type(service))``."""
        self._services[type(service)] = service

    @property
    def services(self) -> Mapping[type[Any], Any]:
        """Type -> the object provided for it."""
        return self._services

    def kind(self, name: str) -> OperationKind[Any] | None:
        """The kind registered under ``name``, if this server runs it."""
        return self._kinds.get(name)

    @property
    def names(self) -> list[str]:
        """Names of every kind this server runs."""
        return sorted(self._kinds)

    @property
    def reactions(self) -> Mapping[type[Any], Sequence[Reaction]]:
        """Signal type -> the reactions registered for it."""
        return self._reactions
