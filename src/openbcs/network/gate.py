"""The signature gate of channel changes (docs/governance.md): where an organisation's admin key is held by its
tenant, OpenBCS cannot sign for it, and a config update whose policies need that organisation waits for its
signature instead of failing.

:func:`next_block` is how :mod:`config_history` signs the next config block. With no :class:`Signatures` in force
(tools, migrations) it is ``fabric.next_config_block``. While one is in force (:func:`collecting`, around every
operation's channel change), an update the hosted admins cannot authorize is recorded in ``needed`` (no block is cut),
and an update whose signatures were collected (``provided``) is submitted with them: exactly those update bytes, or
the operation fails as stale.

The governance domain implements the wait itself and provides it to the operations as a :class:`SignatureGate`
(the runtime's ``through_runtime`` passes every channel change through it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fabric_protos.common.common_pb2 import Block, Envelope
from fabric_protos.common.configtx_pb2 import Config, ConfigUpdate, ConfigUpdateEnvelope
from sqlalchemy.orm import Session

from openbcs import fabric
from openbcs.engine.kinds import OperationContext, OperationFailed, Pending
from openbcs.fabric.authorize import requirements
from openbcs.fabric.policies import PolicyEvaluator

_KEY = "openbcs.signature_gate"


@dataclass(frozen=True)
class Needed:
    """An update of one channel that the hosted admins cannot authorize: its bytes, the envelope the hosted admins
    signed, the block it was computed from, and in words what it changes and which policies are unmet."""

    channel_id: int
    base_block: int
    update: bytes
    envelope: bytes
    summary: str
    policy: str
    signers: tuple[str, ...]
    candidates: tuple[str, ...]


@dataclass
class Signatures:
    """What one operation's channel change found (``needed``) or brings (``provided``: channel id -> the
    ``ConfigUpdateEnvelope`` bytes with every signature collected)."""

    needed: dict[int, Needed] = field(default_factory=dict)
    provided: dict[int, bytes] = field(default_factory=dict)


@contextmanager
def collecting(session: Session, signatures: Signatures) -> Iterator[Signatures]:
    """Let ``signatures`` take the config updates this unit of work makes until the block ends."""
    previous = session.info.get(_KEY)
    session.info[_KEY] = signatures
    try:
        yield signatures
    finally:
        if previous is None:
            session.info.pop(_KEY, None)
        else:
            session.info[_KEY] = previous


@dataclass(frozen=True)
class SignatureGate:
    """Provided to the operations (``registry.provide``): ``check(session, ctx, run)`` runs a channel change
    (``run``) or makes it wait for signatures."""

    check: Callable[[Session, OperationContext[Any], Callable[[], str | Pending]], str | Pending]


def summary(current: Config, target: Config, channel_name: str) -> str:
    """What an update changes, in words: organisations added or removed, organisations' definitions changed."""
    before = set(current.channel_group.groups["Application"].groups)
    after = set(target.channel_group.groups["Application"].groups)
    parts = []
    if after - before:
        parts.append("add organisation(s) " + ", ".join(sorted(after - before)))
    if before - after:
        parts.append("remove organisation(s) " + ", ".join(sorted(before - after)))
    changed = [
        name
        for name in sorted(before & after)
        if current.channel_group.groups["Application"].groups[name].SerializeToString(deterministic=True)
        != target.channel_group.groups["Application"].groups[name].SerializeToString(deterministic=True)
    ]
    if changed:
        parts.append("change the definition (MSP, anchor peers) of " + ", ".join(changed))
    return f"channel {channel_name}: " + ("; ".join(parts) if parts else "change the orderer or channel settings")


def _candidates(current: Config, update: ConfigUpdate) -> tuple[str, ...]:
    """The application organisations whose admins could count towards the update's policies: the members of the
    groups whose policies it must satisfy (an org group's own policy names that org)."""
    evaluator = PolicyEvaluator(current)
    found: set[str] = set()
    application = current.channel_group.groups["Application"].groups
    for requirement in requirements(current, update, evaluator):
        path = requirement.group_path
        if len(path) >= 3 and path[1] == "Application":
            found.add(path[2])
        else:
            found.update(application)
    return tuple(sorted(found))


def next_block(
    session: Session,
    channel_id: int,
    previous: Block,
    spec: fabric.ChannelSpec,
    admins: list[fabric.Signer],
    submitter: fabric.Signer,
    orderer: fabric.Signer,
    when: dt.datetime,
) -> tuple[Block, Envelope, list[str]] | None:
    """``fabric.next_config_block`` under the gate (see the module docstring)."""
    gate: Signatures | None = session.info.get(_KEY)
    if gate is None:
        return fabric.next_config_block(previous, spec, admins, submitter, orderer, when)
    current = fabric.config_of(previous)
    target = fabric.build_config(spec)
    update = fabric.compute_update_or_none(spec.channel_id, current, target)
    if update is None:
        return None
    update_bytes = update.SerializeToString(deterministic=True)
    provided = gate.provided.get(channel_id)
    if provided is not None:
        envelope = ConfigUpdateEnvelope.FromString(provided)
        if envelope.config_update != update_bytes:
            # The channel (or what it should become) changed since the request was made: never half-applied.
            raise OperationFailed(
                f"channel {spec.channel_id}: the signed update is stale (the channel's configuration or the change "
                "differ from when the signature request was made); nothing was changed"
            )
        signed = envelope
    else:
        try:
            signed = fabric.sign_update(update, fabric.choose_signers(current, update, admins))
        except fabric.ConfigError as exc:
            hosted = fabric.sign_update(update, admins)
            gate.needed[channel_id] = Needed(
                channel_id=channel_id,
                base_block=int(previous.header.number),
                update=update_bytes,
                envelope=hosted.SerializeToString(deterministic=True),
                summary=summary(current, target, spec.channel_id),
                policy=str(exc).removeprefix("the available signers cannot authorize the update: "),
                signers=tuple(a.msp_id for a in admins),
                candidates=_candidates(current, update),
            )
            return None
    transaction, _ = fabric.config_update_tx(spec.channel_id, signed, submitter, when)
    new_config = fabric.apply_update(current, update, channel_id=spec.channel_id)
    block = fabric.config_block(previous.header.number + 1, previous.header, new_config, transaction, orderer, when)
    return block, transaction, fabric.signers_of(signed.SerializeToString(deterministic=True))


def update_sha256(update: bytes) -> str:
    """Hex SHA-256 of the update bytes the signatures cover."""
    return hashlib.sha256(update).hexdigest()
