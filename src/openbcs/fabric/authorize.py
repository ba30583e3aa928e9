"""Authorizing a config update the way an orderer does (``common/configtx/update.go``, ``authorizeUpdate``).

Every element in the delta set that already exists must have its *current* mod_policy satisfied by the update's
``ConfigSignatures``; new elements need nothing of their own (their parent group's change is authorized instead).
A relative mod_policy is looked up in the element's group — for a group element, in that group itself — and an
absolute one (``/Channel/...``) from the root. Each signature signs ``signature_header || config_update`` bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fabric_protos.common.common_pb2 import SignatureHeader
from fabric_protos.common.configtx_pb2 import Config, ConfigUpdate, ConfigUpdateEnvelope
from google.protobuf.message import DecodeError

from . import configmap
from .errors import ConfigError
from .policies import Identity, PolicyEvaluator, SignedData


@dataclass(frozen=True)
class Requirement:
    """A modified element and the policy (absolute path) that must be satisfied to modify it."""

    element: str  # e.g. "group /Channel/Application"
    policy_path: str
    group_path: tuple[str, ...]
    policy_name: str


def requirements(current: Config, update: ConfigUpdate, evaluator: PolicyEvaluator) -> list[Requirement]:
    """The policies an update must satisfy against ``current``; raise ConfigError for a structurally bad update."""
    current_map = configmap.map_config(current.channel_group)
    result = []
    for key, element in sorted(configmap.delta_set(current_map, update).items()):
        existing = current_map.get(key)
        if existing is None:
            continue
        base = (*existing.path, existing.key) if existing.kind == configmap.GROUP else existing.path
        group_path, name = evaluator.resolve(existing.mod_policy, base)
        kind = element.kind.strip()[1:-1].lower()
        result.append(Requirement(f"{kind} {element.fq_path}", "/" + "/".join((*group_path, name)), group_path, name))
    return result


def config_signed_data(envelope: ConfigUpdateEnvelope) -> list[SignedData]:
    """The envelope's ConfigSignatures as signed data (``ConfigUpdateEnvelopeAsSignedData``)."""
    result = []
    for signature in envelope.signatures:
        header = SignatureHeader.FromString(signature.signature_header)
        data = signature.signature_header + envelope.config_update
        result.append(SignedData(data=data, identity=header.creator, signature=signature.signature))
    return result


def unmet(requirements_: Sequence[Requirement], evaluator: PolicyEvaluator, ids: Sequence[Identity]) -> list[str]:
    """The distinct policy paths among ``requirements_`` that ``ids`` do not satisfy, with the elements they guard."""
    failed: dict[str, list[str]] = {}
    verdicts: dict[str, bool] = {}
    for req in requirements_:
        if req.policy_path not in verdicts:
            verdicts[req.policy_path] = evaluator.satisfied(req.group_path, req.policy_name, ids)
        if not verdicts[req.policy_path]:
            failed.setdefault(req.policy_path, []).append(req.element)
    return [f"{path} not satisfied (to modify {', '.join(elements)})" for path, elements in failed.items()]


def authorize_update(current_config: Config, update_envelope: ConfigUpdateEnvelope) -> list[str]:
    """The reasons an orderer holding ``current_config`` would refuse ``update_envelope``; empty when every modified
    element's mod_policy is satisfied by the update's signatures (and the update is well formed)."""
    try:
        update = ConfigUpdate.FromString(update_envelope.config_update)
        evaluator = PolicyEvaluator(current_config)
        needed = requirements(current_config, update, evaluator)
        ids = evaluator.valid_identities(config_signed_data(update_envelope))
    except DecodeError:
        return ["update envelope does not decode"]
    except ConfigError as exc:
        return [str(exc)]
    return unmet(needed, evaluator, ids)
