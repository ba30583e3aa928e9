"""The policy evaluator: implicit-meta thresholds, signature policies, MSP identity validation, low-S."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.common.configtx_pb2 import Config
from fabric_protos.common.policies_pb2 import Policy

from openbcs.fabric import (
    ConfigError,
    MSPSpec,
    SignedData,
    Signer,
    authorize_update,
    build_config,
    choose_signers,
    compute_update,
    evaluate,
    evaluate_identities,
    sign_update,
)
from openbcs.fabric.crypto import HALF_ORDER, P256_ORDER, signature_problem
from openbcs.fabric.policydefs import n_out_of
from openbcs.network import pki

from .conftest import CHANNEL, NOW, identity, make_org

DATA = b"the bytes being signed"
APP_ADMINS = "/Channel/Application/Admins"


def signed(signer: Signer, data: bytes = DATA) -> SignedData:
    return SignedData(data, signer.creator(), signer.sign(data))


def high_s(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return encode_dss_signature(r, P256_ORDER - s)


def test_signatures_are_low_s(orgs):
    for _ in range(20):  # about half of raw ECDSA signatures would be high-S
        _, s = decode_dss_signature(orgs[0].admin.sign(DATA))
        assert s <= HALF_ORDER


def test_high_s_signature_is_refused(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app()))
    good = signed(orgs[0].admin)
    bad = SignedData(good.data, good.identity, high_s(good.signature))
    cert = x509.load_pem_x509_certificate(orgs[0].admin.cert_pem)
    # The high-S twin is a mathematically valid ECDSA signature: only the low-S rule rejects it.
    cert.public_key().verify(bad.signature, DATA, ec.ECDSA(hashes.SHA256()))
    assert signature_problem(cert, DATA, bad.signature) == "signature is not low-S"
    assert evaluate(config, APP_ADMINS, [good])
    assert not evaluate(config, APP_ADMINS, [bad])


def test_implicit_meta_majority(orgs, spec_of):
    config = build_config(spec_of(*(o.app() for o in orgs[:3])))
    assert not evaluate(config, APP_ADMINS, [])
    assert not evaluate(config, APP_ADMINS, [signed(orgs[0].admin)])
    assert evaluate(config, APP_ADMINS, [signed(orgs[0].admin), signed(orgs[2].admin)])
    assert evaluate(config, APP_ADMINS, [signed(o.admin) for o in orgs[:3]])
    # An admin of an org outside the channel does not count.
    assert not evaluate(config, APP_ADMINS, [signed(orgs[0].admin), signed(orgs[3].admin)])
    # Four orgs: MAJORITY is 3.
    four = build_config(spec_of(*(o.app() for o in orgs)))
    assert not evaluate(four, APP_ADMINS, [signed(orgs[0].admin), signed(orgs[1].admin)])
    assert evaluate(four, APP_ADMINS, [signed(o.admin) for o in orgs[:3]])


def test_implicit_meta_any_and_all(orgs, spec_of):
    config = build_config(spec_of(*(o.app() for o in orgs[:3])))
    assert evaluate(config, "/Channel/Application/Writers", [signed(orgs[1].client)])
    assert not evaluate(config, "/Channel/Application/Writers", [signed(orgs[1].peer)])  # Writers: admin|client
    assert evaluate(config, "/Channel/Application/Readers", [signed(orgs[1].peer)])
    # /Channel/Writers is ANY over Orderer and Application.
    assert evaluate(config, "/Channel/Writers", [signed(orgs[2].client)])
    # Make Application/Admins "ALL Admins".
    all_config = Config()
    all_config.CopyFrom(config)
    from openbcs.fabric.policydefs import implicit_meta

    all_config.channel_group.groups["Application"].policies["Admins"].CopyFrom(implicit_meta("ALL", "Admins"))
    assert not evaluate(all_config, APP_ADMINS, [signed(o.admin) for o in orgs[:2]])
    assert evaluate(all_config, APP_ADMINS, [signed(o.admin) for o in orgs[:3]])


def test_zero_sub_policies_threshold_is_zero(orgs, spec_of, ord_org):
    empty = build_config(spec_of())
    # Fabric: an implicit-meta policy with no sub-policies is satisfied by anyone, even nobody.
    assert evaluate(empty, APP_ADMINS, [])
    assert evaluate(empty, "/Channel/Application/Writers", [])
    # /Channel/Admins is MAJORITY of {Orderer, Application}: the empty Application counts, so the orderer admin
    # alone makes 2 of 2 and nobody makes 1 of 2.
    assert not evaluate(empty, "/Channel/Admins", [])
    assert evaluate(empty, "/Channel/Admins", [signed(ord_org.admin)])


def test_missing_sub_policy_counts_as_failing(orgs, spec_of):
    config = build_config(spec_of(*(o.app() for o in orgs[:3])))
    del config.channel_group.groups["Application"].groups[orgs[2].msp_id].policies["Admins"]
    # Still 3 sub-policies (majority 2); the missing one just never passes.
    assert not evaluate(config, APP_ADMINS, [signed(orgs[0].admin), signed(orgs[2].admin)])
    assert evaluate(config, APP_ADMINS, [signed(orgs[0].admin), signed(orgs[1].admin)])
    assert not evaluate(config, "/Channel/Application/NoSuchPolicy", [signed(orgs[0].admin)])


def test_wrong_role_is_refused(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app()))
    org_admins = f"/Channel/Application/{orgs[0].msp_id}/Admins"
    assert evaluate(config, org_admins, [signed(orgs[0].admin)])
    for other in (orgs[0].client, orgs[0].peer, orgs[0].orderer):
        assert not evaluate(config, org_admins, [signed(other)])
    assert evaluate(config, f"/Channel/Application/{orgs[0].msp_id}/Endorsement", [signed(orgs[0].peer)])
    assert not evaluate(config, f"/Channel/Application/{orgs[0].msp_id}/Endorsement", [signed(orgs[0].client)])


def test_foreign_ca_cannot_claim_an_msp(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app(), orgs[1].app()))
    # An admin cert of org1's CA presented under org0's MSP id.
    impostor = Signer(orgs[0].msp_id, orgs[1].admin.cert_pem, orgs[1].admin.key_pem)
    assert not evaluate(config, f"/Channel/Application/{orgs[0].msp_id}/Admins", [signed(impostor)])
    assert not evaluate(config, APP_ADMINS, [signed(impostor), signed(orgs[1].admin)])
    # A look-alike CA with the same subject name does not help either.
    twin_ca = pki.new_ca(common_name="ca.org1", organization="org1", now=NOW)
    twin = identity("org1", orgs[0].msp_id, twin_ca, "admin")
    assert not evaluate(config, f"/Channel/Application/{orgs[0].msp_id}/Admins", [signed(twin)])


def test_revoked_certificate_is_refused(spec_of):
    org = make_org("revoking-org")
    pair, serial = pki.issue(org.ca, common_name="old-admin", organization=org.name, unit="admin", now=NOW)
    revoked = Signer(org.msp_id, pair.cert_pem, pair.key_pem)
    crl = pki.crl(org.ca, revoked=[(serial, NOW)], number=1, now=NOW)
    spec = MSPSpec(org.msp_id, (org.ca.cert_pem,), (org.tls_ca.cert_pem,), (crl,))
    from openbcs.fabric import ApplicationOrg

    config = build_config(spec_of(ApplicationOrg(spec)))
    admins = f"/Channel/Application/{org.msp_id}/Admins"
    assert not evaluate(config, admins, [signed(revoked)])
    assert evaluate(config, admins, [signed(org.admin)])
    # A CRL signed by some other CA is ignored, as in Fabric.
    other = make_org("other-ca")
    forged = pki.crl(
        other.ca, revoked=[(x509.load_pem_x509_certificate(org.admin.cert_pem).serial_number, NOW)], number=1, now=NOW
    )
    config = build_config(
        spec_of(ApplicationOrg(MSPSpec(org.msp_id, (org.ca.cert_pem,), (org.tls_ca.cert_pem,), (forged,))))
    )
    assert evaluate(config, admins, [signed(org.admin)])


def _cert_with_units(org, units: list[str]) -> Signer:
    ca_cert = x509.load_pem_x509_certificate(org.ca.cert_pem)
    ca_key = serialization.load_pem_private_key(org.ca.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, u) for u in units]
        + [x509.NameAttribute(NameOID.COMMON_NAME, "multi")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Signer(org.msp_id, cert.public_bytes(serialization.Encoding.PEM), key_pem)


def test_node_ou_rules(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app()))
    org_readers = f"/Channel/Application/{orgs[0].msp_id}/Readers"
    # Exactly one node OU is required: two make the identity invalid, none too.
    assert not evaluate(config, org_readers, [signed(_cert_with_units(orgs[0], ["admin", "client"]))])
    assert not evaluate(config, org_readers, [signed(_cert_with_units(orgs[0], ["sales"]))])
    assert evaluate(config, org_readers, [signed(_cert_with_units(orgs[0], ["sales", "client"]))])


def test_same_identity_counts_once(orgs, spec_of):
    config = build_config(spec_of(*(o.app() for o in orgs[:3])))
    twice = [signed(orgs[0].admin), signed(orgs[0].admin, DATA)]
    assert not evaluate(config, APP_ADMINS, twice)
    assert not evaluate_identities(config, APP_ADMINS, [orgs[0].admin.creator()] * 2)
    assert evaluate_identities(config, APP_ADMINS, [orgs[0].admin.creator(), orgs[1].admin.creator()])


def test_signature_must_cover_the_data(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app()))
    forged = SignedData(DATA, orgs[0].admin.creator(), orgs[0].admin.sign(b"something else"))
    assert not evaluate(config, APP_ADMINS, [forged])
    garbage = SignedData(DATA, orgs[0].admin.creator(), b"\x30\x02\x01")
    assert not evaluate(config, APP_ADMINS, [garbage])


def test_n_out_of_uses_each_identity_once_greedily(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app()))
    msp = orgs[0].msp_id
    envelope = n_out_of(2, msp, ["member", "admin"])
    policy = config.channel_group.groups["Application"].groups[msp].policies["Admins"].policy
    policy.CopyFrom(Policy(type=Policy.SIGNATURE, value=envelope.SerializeToString()))
    path = f"/Channel/Application/{msp}/Admins"
    assert not evaluate(config, path, [signed(orgs[0].admin)])  # one identity cannot fill two rules
    assert evaluate(config, path, [signed(orgs[0].client), signed(orgs[0].admin)])
    # Fabric's evaluation is greedy in signature order: the admin is consumed by the "member" rule first.
    assert not evaluate(config, path, [signed(orgs[0].admin), signed(orgs[0].client)])


def test_authorize_update(orgs, spec_of):
    current = build_config(spec_of(*(o.app() for o in orgs[:3])))
    update = compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app(), orgs[1].app())))
    assert authorize_update(current, sign_update(update, [orgs[0].admin, orgs[2].admin])) == []
    problems = authorize_update(current, sign_update(update, [orgs[0].admin]))
    assert problems == ["/Channel/Application/Admins not satisfied (to modify group /Channel/Application)"]
    # Client signatures do not count for Admins; nor do signatures over another update.
    assert authorize_update(current, sign_update(update, [orgs[0].client, orgs[1].client])) == problems
    other = compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app())))
    forged = sign_update(update, [orgs[0].admin, orgs[1].admin])
    forged.config_update = other.SerializeToString(deterministic=True)
    assert authorize_update(current, forged) == [
        "/Channel/Application/Admins not satisfied (to modify group /Channel/Application)"
    ]


def test_anchor_peer_change_needs_only_that_orgs_admin(orgs, spec_of):
    current = build_config(spec_of(*(o.app() for o in orgs[:3])))
    update = compute_update(
        CHANNEL, current, build_config(spec_of(orgs[0].app(), orgs[1].app([orgs[1].anchor()]), orgs[2].app()))
    )
    assert authorize_update(current, sign_update(update, [orgs[1].admin])) == []
    problems = authorize_update(current, sign_update(update, [orgs[0].admin, orgs[2].admin]))
    org_path = f"/Channel/Application/{orgs[1].msp_id}"
    assert problems == [f"{org_path}/Admins not satisfied (to modify group {org_path})"]
    assert choose_signers(current, update, [orgs[0].admin, orgs[1].admin, orgs[2].admin]) == [orgs[1].admin]


def test_choose_signers(orgs, spec_of):
    current = build_config(spec_of(*(o.app() for o in orgs[:3])))
    admins = [o.admin for o in orgs]
    remove = compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app(), orgs[1].app())))
    assert choose_signers(current, remove, [orgs[2].admin, orgs[1].admin, orgs[0].admin]) == [
        orgs[2].admin,
        orgs[1].admin,
    ]
    # The joining org's admin has no say yet and is dropped; the next two existing admins are taken in order.
    add = compute_update(CHANNEL, current, build_config(spec_of(*(o.app() for o in orgs))))
    assert choose_signers(current, add, [orgs[3].admin, orgs[0].admin, orgs[1].admin, orgs[2].admin]) == [
        orgs[0].admin,
        orgs[1].admin,
    ]
    # Clients or a single admin cannot authorize removing an org.
    with pytest.raises(ConfigError, match="/Channel/Application/Admins not satisfied"):
        choose_signers(current, remove, [orgs[0].admin, orgs[0].client, orgs[1].client])
    assert authorize_update(current, sign_update(add, choose_signers(current, add, admins))) == []


def test_same_identity_cannot_fill_two_principals(orgs, spec_of):
    config = build_config(spec_of(orgs[0].app()))
    msp = orgs[0].msp_id
    policy = config.channel_group.groups["Application"].groups[msp].policies["Admins"].policy
    policy.CopyFrom(Policy(type=Policy.SIGNATURE, value=n_out_of(2, msp, ["admin", "admin"]).SerializeToString()))
    path = f"/Channel/Application/{msp}/Admins"
    second_admin = identity(orgs[0].name, msp, orgs[0].ca, "admin")
    assert not evaluate(config, path, [signed(orgs[0].admin), signed(orgs[0].admin, DATA)])
    assert evaluate(config, path, [signed(orgs[0].admin), signed(second_admin)])


def test_node_ou_must_be_certified_by_the_ou_ca(spec_of):
    org = make_org("two-roots")
    second_ca = pki.new_ca(common_name="ca2.two-roots", organization=org.name, now=NOW)
    from openbcs.fabric import ApplicationOrg

    # NodeOU identifiers are certified by the first root: an admin of the second root is a member of the MSP
    # chain-wise but its OU does not count (Fabric compares certifiers identifiers), so it is not valid at all.
    spec = MSPSpec(org.msp_id, (org.ca.cert_pem, second_ca.cert_pem), (org.tls_ca.cert_pem,))
    config = build_config(spec_of(ApplicationOrg(spec)))
    other_admin = identity(org.name, org.msp_id, second_ca, "admin")
    assert evaluate(config, f"/Channel/Application/{org.msp_id}/Admins", [signed(org.admin)])
    assert not evaluate(config, f"/Channel/Application/{org.msp_id}/Admins", [signed(other_admin)])
    assert not evaluate(config, f"/Channel/Application/{org.msp_id}/Readers", [signed(other_admin)])
