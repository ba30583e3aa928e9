"""Constructors for the two policy kinds configtxgen writes: signature policies and implicit-meta policies."""

from __future__ import annotations

from collections.abc import Sequence

from fabric_protos.common.configtx_pb2 import ConfigPolicy
from fabric_protos.common.policies_pb2 import ImplicitMetaPolicy, Policy, SignaturePolicy, SignaturePolicyEnvelope
from fabric_protos.msp.msp_principal_pb2 import MSPPrincipal, MSPRole

ADMINS = "Admins"

ROLES = {
    "member": MSPRole.MEMBER,
    "admin": MSPRole.ADMIN,
    "client": MSPRole.CLIENT,
    "peer": MSPRole.PEER,
    "orderer": MSPRole.ORDERER,
}
RULES = {"ANY": ImplicitMetaPolicy.ANY, "ALL": ImplicitMetaPolicy.ALL, "MAJORITY": ImplicitMetaPolicy.MAJORITY}


def n_out_of(n: int, msp_id: str, roles: Sequence[str]) -> SignaturePolicyEnvelope:
    """``OutOf(n, 'MSP.role1', 'MSP.role2', ...)`` as ``policydsl.FromString`` encodes it: one principal per role, in
    order, not de-duplicated, and an n-out-of rule over ``SignedBy`` each principal."""
    principals = [
        MSPPrincipal(
            principal_classification=MSPPrincipal.ROLE,
            principal=MSPRole(msp_identifier=msp_id, role=ROLES[role]).SerializeToString(deterministic=True),
        )
        for role in roles
    ]
    rules = [SignaturePolicy(signed_by=i) for i in range(len(roles))]
    rule = SignaturePolicy(n_out_of=SignaturePolicy.NOutOf(n=n, rules=rules))
    return SignaturePolicyEnvelope(version=0, rule=rule, identities=principals)


def signature_policy(msp_id: str, *roles: str, mod_policy: str = ADMINS) -> ConfigPolicy:
    """A config policy ``OR('MSP.role', ...)`` (type SIGNATURE)."""
    envelope = n_out_of(1, msp_id, roles)
    policy = Policy(type=Policy.SIGNATURE, value=envelope.SerializeToString(deterministic=True))
    return ConfigPolicy(policy=policy, mod_policy=mod_policy)


def implicit_meta(rule: str, sub_policy: str, mod_policy: str = ADMINS) -> ConfigPolicy:
    """A config policy ``"<ANY|ALL|MAJORITY> <sub_policy>"`` (type IMPLICIT_META)."""
    meta = ImplicitMetaPolicy(sub_policy=sub_policy, rule=RULES[rule])
    policy = Policy(type=Policy.IMPLICIT_META, value=meta.SerializeToString(deterministic=True))
    return ConfigPolicy(policy=policy, mod_policy=mod_policy)
