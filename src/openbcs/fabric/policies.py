"""Evaluating channel policies over signatures, as Fabric's policy manager does.

* ``common/policies/implicitmeta.go``: an ImplicitMeta policy evaluates the named sub-policy in every child group;
  ANY needs 1, ALL all, MAJORITY n/2 + 1 of them — and with no child groups at all the threshold is 0 (satisfied).
  A child group lacking the sub-policy counts as a failing sub-policy.
* ``common/cauthdsl/cauthdsl.go``: an n-out-of signature policy counts satisfied rules greedily, in order, and each
  identity satisfies at most one ``SignedBy``.
* ``common/policies/policy.go`` (``SignatureSetToValidIdentities``): an identity is deserialized by the MSP its
  ``mspid`` names, de-duplicated (the same identity twice counts once) and kept only if its signature verifies
  (low-S ECDSA); certificate validation and roles are then checked per principal (``msp/mspimpl.go``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from fabric_protos.common.configtx_pb2 import Config, ConfigGroup
from fabric_protos.common.policies_pb2 import ImplicitMetaPolicy, Policy, SignaturePolicy, SignaturePolicyEnvelope
from fabric_protos.msp.identities_pb2 import SerializedIdentity
from fabric_protos.msp.msp_config_pb2 import MSPConfig
from fabric_protos.msp.msp_principal_pb2 import MSPPrincipal, MSPRole
from google.protobuf.message import DecodeError

from .crypto import identity_id, load_cert, signature_problem
from .msp import MSP


@dataclass(frozen=True)
class SignedData:
    """One signature to evaluate: the signed bytes, the signer's serialized identity, the DER signature."""

    data: bytes
    identity: bytes
    signature: bytes


@dataclass(frozen=True)
class Identity:
    """A deserialized signer: the MSP it claims and its certificate."""

    msp_id: str
    cert: x509.Certificate
    id: str


def _groups(root: ConfigGroup) -> dict[tuple[str, ...], ConfigGroup]:
    found: dict[tuple[str, ...], ConfigGroup] = {}
    stack: list[tuple[tuple[str, ...], ConfigGroup]] = [(("Channel",), root)]
    while stack:
        path, group = stack.pop()
        found[path] = group
        stack.extend(((*path, key), child) for key, child in group.groups.items())
    return found


class PolicyEvaluator:
    """The channel's policies and MSPs, parsed once from a ``Config``."""

    def __init__(self, config: Config) -> None:
        self.groups = _groups(config.channel_group)
        self.msps: dict[str, MSP] = {}
        for group in self.groups.values():
            if "MSP" in group.values:
                # An unreadable MSP makes the whole config invalid for Fabric too (the bundle cannot be built).
                msp = MSP.from_config(MSPConfig.FromString(group.values["MSP"].value))
                self.msps[msp.name] = msp

    def deserialize(self, creator: bytes) -> Identity | str:
        """The identity in a serialized ``SerializedIdentity``, or why it cannot be one of this channel's."""
        try:
            serialized = SerializedIdentity.FromString(creator)
            cert = load_cert(serialized.id_bytes)
            cert.public_key()  # a certificate can parse yet carry an unusable key
        except (DecodeError, ValueError, UnsupportedAlgorithm):
            return "identity is not a serialized PEM certificate with a usable key"
        if serialized.mspid not in self.msps:
            return f"MSP {serialized.mspid!r} is not in the channel"
        return Identity(serialized.mspid, cert, identity_id(cert))

    def valid_identities(self, signed_data: Sequence[SignedData]) -> list[Identity]:
        """The distinct identities whose signatures verify (``SignatureSetToValidIdentities``)."""
        seen: set[tuple[str, str]] = set()
        identities = []
        for item in signed_data:
            identity = self.deserialize(item.identity)
            if isinstance(identity, str) or (identity.msp_id, identity.id) in seen:
                continue
            if signature_problem(identity.cert, item.data, item.signature) is None:
                seen.add((identity.msp_id, identity.id))
                identities.append(identity)
        return identities

    def identity_problem(self, identity: Identity) -> str | None:
        """Why ``identity`` is not a valid member of the MSP it claims; None when it is."""
        return self.msps[identity.msp_id].validation_problem(identity.cert)

    def resolve(self, policy_path: str, base: tuple[str, ...] = ("Channel",)) -> tuple[tuple[str, ...], str]:
        """(group path, policy name) of ``policy_path``: absolute (``/Channel/...``) or relative to ``base``."""
        relative = not policy_path.startswith("/")
        parts = (*(base if relative else ()), *policy_path.removeprefix("/").split("/"))
        return parts[:-1], parts[-1]

    def satisfied(self, group_path: tuple[str, ...], name: str, identities: Sequence[Identity]) -> bool:
        """Whether the policy ``name`` of the group at ``group_path`` is satisfied by ``identities``.
        A missing group or policy is Fabric's reject-all policy."""
        group = self.groups.get(group_path)
        if group is None or name not in group.policies:
            return False
        policy = group.policies[name].policy
        if policy.type == Policy.IMPLICIT_META:
            meta = ImplicitMetaPolicy.FromString(policy.value)
            children = [(*group_path, key) for key in sorted(group.groups)]
            threshold = _threshold(meta.rule, len(children))
            met = 0
            for child in children:
                if met >= threshold:
                    break
                met += self.satisfied(child, meta.sub_policy, identities)
            return met >= threshold
        if policy.type == Policy.SIGNATURE:
            envelope = SignaturePolicyEnvelope.FromString(policy.value)
            if envelope.version != 0:
                return False
            return self._signature_rule(envelope.rule, envelope.identities, identities, [False] * len(identities))
        return False  # MSP-type and unknown policies are not used in channel configs

    def _signature_rule(
        self, rule: SignaturePolicy, principals: Sequence[MSPPrincipal], ids: Sequence[Identity], used: list[bool]
    ) -> bool:
        kind = rule.WhichOneof("Type")
        if kind == "signed_by":
            if not 0 <= rule.signed_by < len(principals):
                return False
            principal = principals[rule.signed_by]
            for i, identity in enumerate(ids):
                if not used[i] and self._satisfies(identity, principal):
                    used[i] = True
                    return True
            return False
        if kind == "n_out_of":
            verified = 0
            for sub in rule.n_out_of.rules:
                trial = list(used)
                if self._signature_rule(sub, principals, ids, trial):
                    verified += 1
                    used[:] = trial
            return bool(verified >= rule.n_out_of.n)
        return False

    def _satisfies(self, identity: Identity, principal: MSPPrincipal) -> bool:
        if principal.principal_classification != MSPPrincipal.ROLE:
            return False  # OpenBCS policies only name MSP roles
        role = MSPRole.FromString(principal.principal)
        if role.msp_identifier != identity.msp_id:
            return False
        return self.msps[identity.msp_id].has_role(identity.cert, role.role)


def _threshold(rule: int, count: int) -> int:
    if count == 0:
        return 0  # Fabric: with no sub-policies, ANY/ALL/MAJORITY are all satisfied
    if rule == ImplicitMetaPolicy.ANY:
        return 1
    if rule == ImplicitMetaPolicy.ALL:
        return count
    if rule == ImplicitMetaPolicy.MAJORITY:
        return count // 2 + 1
    return 0  # as Fabric, whose switch leaves the threshold at 0 (configtxgen never writes such a rule)


def evaluate(config: Config, policy_path: str, signed_data: Sequence[SignedData]) -> bool:
    """Whether the signatures satisfy the absolute policy ``policy_path`` (e.g. ``/Channel/Application/Admins``)."""
    evaluator = PolicyEvaluator(config)
    return evaluator.satisfied(*evaluator.resolve(policy_path), evaluator.valid_identities(signed_data))


def evaluate_identities(config: Config, policy_path: str, creators: Sequence[bytes]) -> bool:
    """Whether the serialized identities (signatures assumed valid) satisfy ``policy_path``."""
    evaluator = PolicyEvaluator(config)
    identities = [i for i in map(evaluator.deserialize, creators) if not isinstance(i, str)]
    unique = list({(i.msp_id, i.id): i for i in identities}.values())
    return evaluator.satisfied(*evaluator.resolve(policy_path), unique)
