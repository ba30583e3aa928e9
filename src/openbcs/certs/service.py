"""Certificate rules: each organisation's PKI, downloads in Fabric's MSP layout, users' certificates, freezing
(revocation into the org's CRL) and the SDK connection profile.

Every organisation gets a signing CA and a TLS CA (ECDSA P-256), an admin and a default user (``User1``) with
signing and TLS client certificates, and for each node a signing certificate (OU peer/orderer) and a TLS server
certificate whose SAN carries the node's modelled host names. The instance's operations create this material.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import errors
from openbcs.blockchains import service as blockchains
from openbcs.certs import pki
from openbcs.certs.models import IssuedCert, OrgPki
from openbcs.certs.schemas import SdkConfigBody
from openbcs.channels import service as channels
from openbcs.db import now_ns
from openbcs.keys import ServerKey
from openbcs.monitoring import service as monitoring

CERT_TYPES = ("admin", "user", "ca")
USER_NAME = re.compile(r"^[a-z][a-z0-9]{3,23}$")
CHAINCODE_NAME = re.compile(r"^[a-z][a-z0-9]{5,24}$")
PEER_INDEX = re.compile(r"0|[1-9][0-9]{0,2}")
HOSTED_PER_ORG_MAX = 100
UPLOAD_MAX_BYTES = 30 * 1024
DEFAULT_USER = "User1"
_KEY_PURPOSE = "pki-key"


@dataclass(frozen=True)
class Archive:
    """A file answer: its name and bytes."""

    filename: str
    content: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _seal(server_key: ServerKey, key_pem: bytes) -> str:
    return server_key.encrypt(_KEY_PURPOSE, key_pem)


def _open(server_key: ServerKey, sealed: str) -> bytes:
    return server_key.decrypt(_KEY_PURPOSE, sealed)


def _domain(org: Any) -> str:
    return blockchains.org_domain(org)


def _org_label(org: Any) -> str:
    return f"{org.name_hash}MSP"


def _ca(org_pki: OrgPki, server_key: ServerKey, *, tls: bool) -> pki.KeyPair:
    if tls:
        return pki.KeyPair(org_pki.tlsca_cert.encode(), _open(server_key, org_pki.tlsca_key))
    return pki.KeyPair(org_pki.ca_cert.encode(), _open(server_key, org_pki.ca_key))


def _store(
    session: Session,
    server_key: ServerKey,
    org_id: int,
    role: str,
    pair: pki.KeyPair,
    serial: int,
    *,
    subject: str,
    node_name: str | None = None,
    user_name: str | None = None,
    keep_key: bool = True,
) -> IssuedCert:
    issued = IssuedCert(
        org_id=org_id,
        role=role,
        subject=subject,
        node_name=node_name,
        user_name=user_name,
        hosted=keep_key,
        serial=format(serial, "x"),
        cert=pair.cert_pem.decode(),
        key=_seal(server_key, pair.key_pem) if keep_key else None,
        created_time=now_ns(),
    )
    session.add(issued)
    return issued


# --- provisioning ------------------------------------------------------------------------------------------------


def _provision_org(session: Session, org: Any, server_key: ServerKey) -> int:
    """Create the org's CAs, admin and default user if missing, and certificates for nodes that have none."""
    made = 0
    now = _now()
    domain = _domain(org)
    msp = _org_label(org)
    org_pki = session.get(OrgPki, org.id)
    if org_pki is None:
        # Common names are capped at 64 characters, so they use the org's name; file names use its domain.
        ca = pki.new_ca(common_name=f"ca.{org.name}", organization=msp, now=now)
        tlsca = pki.new_ca(common_name=f"tlsca.{org.name}", organization=msp, now=now)
        org_pki = OrgPki(
            org_id=org.id,
            ca_cert=ca.cert_pem.decode(),
            ca_key=_seal(server_key, ca.key_pem),
            tlsca_cert=tlsca.cert_pem.decode(),
            tlsca_key=_seal(server_key, tlsca.key_pem),
            crl_number=0,
        )
        session.add(org_pki)
        for role, who, unit in (
            ("admin", f"Admin@{org.name}", "admin"),
            ("user", f"{DEFAULT_USER}@{org.name}", "client"),
        ):
            pair, serial = pki.issue(ca, common_name=who, organization=msp, unit=unit, now=now)
            _store(session, server_key, org.id, role, pair, serial, subject=who)
            pair, serial = pki.issue(tlsca, common_name=who, organization=msp, unit=None, tls=True, now=now)
            _store(session, server_key, org.id, f"{role}-tls", pair, serial, subject=who)
            made += 2
    ca, tlsca = _ca(org_pki, server_key, tls=False), _ca(org_pki, server_key, tls=True)
    have = set(
        session.scalars(select(IssuedCert.node_name).where(IssuedCert.org_id == org.id, IssuedCert.role == "node"))
    )
    for node in blockchains.nodes_of(session, org.id):
        if node.name in have:
            continue
        domain_port, ip_port = blockchains.node_address(org, node)
        hosts = [domain_port.rsplit(":", 1)[0], f"{node.name}.{domain}", node.name, ip_port.rsplit(":", 1)[0]]
        pair, serial = pki.issue(ca, common_name=node.name, organization=msp, unit=org.role, now=now)
        _store(session, server_key, org.id, "node", pair, serial, subject=node.name, node_name=node.name)
        pair, serial = pki.issue(
            tlsca,
            common_name=node.name,
            organization=msp,
            unit=None,
            hosts=list(dict.fromkeys(hosts)),
            tls=True,
            now=now,
        )
        _store(session, server_key, org.id, "node-tls", pair, serial, subject=node.name, node_name=node.name)
        made += 2
    return made


def provision_instance(session: Session, *, blockchain_id: str, server_key: ServerKey) -> int:
    """Create every missing piece of the instance's PKI; returns how many certificates were issued."""
    return sum(_provision_org(session, org, server_key) for org in blockchains.orgs_of(session, blockchain_id))


# --- reading material ---------------------------------------------------------------------------------------------


def _pki_of(session: Session, org: Any) -> OrgPki:
    org_pki = session.get(OrgPki, org.id)
    if org_pki is None:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    return org_pki


def _one(session: Session, org_id: int, role: str) -> IssuedCert:
    return session.scalars(
        select(IssuedCert).where(IssuedCert.org_id == org_id, IssuedCert.role == role).order_by(IssuedCert.id)
    ).first() or _missing(role)


def _missing(role: str) -> IssuedCert:  # pragma: no cover - provisioning always issues these together
    raise errors.BCSError(errors.INTERNAL, f"certificate {role} missing")


def crl_pem(session: Session, org: Any, org_pki: OrgPki, server_key: ServerKey) -> bytes:
    """The org's current CRL: every revoked certificate issued by its signing CA."""
    revoked = session.scalars(select(IssuedCert).where(IssuedCert.org_id == org.id, IssuedCert.revoked_at.is_not(None)))
    entries = [(int(c.serial, 16), dt.datetime.fromtimestamp((c.revoked_at or 0) / 1e9, dt.UTC)) for c in revoked]
    return pki.crl(_ca(org_pki, server_key, tls=False), revoked=entries, number=org_pki.crl_number, now=_now())


def _msp_base(session: Session, org: Any, org_pki: OrgPki, server_key: ServerKey) -> dict[str, bytes]:
    domain = _domain(org)
    ca_file = f"ca.{domain}-cert.pem"
    return {
        f"msp/cacerts/{ca_file}": org_pki.ca_cert.encode(),
        f"msp/tlscacerts/tlsca.{domain}-cert.pem": org_pki.tlsca_cert.encode(),
        "msp/config.yaml": pki.node_ous_config(ca_file),
        "msp/crls/crl.pem": crl_pem(session, org, org_pki, server_key),
    }


def download(
    session: Session, *, project_id: str, blockchain_id: str, org_name: str, cert_type: str, server_key: ServerKey
) -> Archive:
    """DownloadBlockchainCert: the org's admin, default user or CA material as an MSP zip."""
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    if cert_type not in CERT_TYPES:
        raise errors.BCSError(errors.ACTION_REFUSED, f"keyType error, keyType: {cert_type} not supported")
    org = blockchains.org_named(session, instance.id, org_name, role=None)
    org_pki = _pki_of(session, org)
    files = _msp_base(session, org, org_pki, server_key)
    if cert_type in ("admin", "user"):
        sign, tls = _one(session, org.id, cert_type), _one(session, org.id, f"{cert_type}-tls")
        assert sign.key is not None
        assert tls.key is not None
        files[f"msp/signcerts/{sign.subject}-cert.pem"] = sign.cert.encode()
        files["msp/keystore/priv_sk"] = _open(server_key, sign.key)
        files["tls/ca.crt"] = org_pki.tlsca_cert.encode()
        files["tls/client.crt"] = tls.cert.encode()
        files["tls/client.key"] = _open(server_key, tls.key)
    return Archive(f"{instance.name}-{org.name}-{cert_type}.zip", pki.zip_files(files))


# --- users' certificates --------------------------------------------------------------------------------------------


def _check_user_name(user_name: str) -> None:
    if not USER_NAME.fullmatch(user_name):
        raise errors.invalid_parameter("user_name", "4-24 lower-case letters and digits, starting with a letter")


def issue_user_cert(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    org_name: str,
    user_name: str,
    security_mode: bool,
    server_key: ServerKey,
) -> Archive:
    """CreateBlockchainCertByUserName: a certificate for ``user_name`` signed by the org's CA, with its key.

    ``security_mode`` true keeps one hosted certificate (and key) per user name, at most 100 per organisation, and
    returns it on every call; false issues a new certificate every call, whose key OpenBCS does not keep.
    """
    _check_user_name(user_name)
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    if instance.process_status == blockchains.IS_DELETING:
        raise errors.BCSError(errors.INSTANCE_DELETING)
    org = blockchains.org_named(session, instance.id, org_name)
    _pki_of(session, org)
    # The org's PKI row is the lock that keeps two calls from hosting the same user twice or passing the cap.
    org_pki = session.scalars(select(OrgPki).where(OrgPki.org_id == org.id).with_for_update()).one()
    issued: IssuedCert | None = None
    key_pem: bytes
    if security_mode:
        hosted = list(
            session.scalars(
                select(IssuedCert).where(
                    IssuedCert.org_id == org.id, IssuedCert.role == "enrolled", IssuedCert.hosted.is_(True)
                )
            )
        )
        issued = next((c for c in hosted if c.user_name == user_name), None)
        if issued is None and len(hosted) >= HOSTED_PER_ORG_MAX:
            raise errors.invalid_parameter("security_mode", f"an organisation hosts at most {HOSTED_PER_ORG_MAX} users")
    if issued is not None:
        assert issued.key is not None
        cert_pem, key_pem = issued.cert.encode(), _open(server_key, issued.key)
    else:
        pair, serial = pki.issue(
            _ca(org_pki, server_key, tls=False),
            common_name=user_name,
            organization=_org_label(org),
            unit="client",
            now=_now(),
        )
        _store(
            session,
            server_key,
            org.id,
            "enrolled",
            pair,
            serial,
            subject=user_name,
            user_name=user_name,
            keep_key=security_mode,
        )
        cert_pem, key_pem = pair.cert_pem, pair.key_pem
    files = _msp_base(session, org, org_pki, server_key)
    files[f"msp/signcerts/{user_name}@{org.name}-cert.pem"] = cert_pem
    files["msp/keystore/priv_sk"] = key_pem
    return Archive(f"{instance.name}-{org.name}-{user_name}.zip", pki.zip_files(files))


def _uploaded_serials(upload: bytes, ca_pem: bytes, user_name: str) -> set[str]:
    """The serials of the user certificates in an uploaded zip, each checked to be from this org's CA."""
    if len(upload) > UPLOAD_MAX_BYTES:
        raise errors.invalid_parameter("file", "at most 30 KB")
    if not zipfile.is_zipfile(io.BytesIO(upload)):
        raise errors.invalid_parameter("file", "not a zip archive")
    serials: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(upload)) as archive:
        for info in archive.infolist():
            name = info.filename
            if not name.endswith((".pem", ".crt")) or "signcerts" not in name:
                continue
            if info.file_size > UPLOAD_MAX_BYTES:
                raise errors.invalid_parameter("file", f"{name} is too large for a certificate")
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as exc:
                # A corrupt member (bad CRC, truncated data), an encrypted one, an unsupported compression.
                raise errors.invalid_parameter("file", f"{name} cannot be read from the zip archive") from exc
            try:
                cert = pki.load_cert(content)
            except ValueError as exc:
                raise errors.invalid_parameter("file", f"{name} is not a PEM certificate") from exc
            if not pki.issued_by(cert, ca_pem):
                raise errors.invalid_parameter("file", f"{name} was not issued by this organisation's CA")
            names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
            if not names or names[0].value != user_name:
                raise errors.invalid_parameter("file", f"{name} is not a certificate of user {user_name}")
            serials.add(format(cert.serial_number, "x"))
    if not serials:
        raise errors.invalid_parameter("file", "no user certificate (msp/signcerts/*.pem) in the archive")
    return serials


def set_frozen(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    org_name: str,
    user_name: str,
    upload: bytes | None,
    frozen: bool,
) -> int:
    """FreezeCert / UnfreezeCert: revoke (or reinstate) the user's certificates — the one in ``upload`` if given,
    else all of them. The org's CRL changes with it. Returns how many certificates changed."""
    _check_user_name(user_name)
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id, lock=True)
    org = blockchains.org_named(session, instance.id, org_name)
    org_pki = session.scalars(select(OrgPki).where(OrgPki.org_id == org.id).with_for_update()).first()
    if org_pki is None:
        raise errors.BCSError(errors.INSTANCE_CREATING)
    certs = list(
        session.scalars(
            select(IssuedCert).where(
                IssuedCert.org_id == org.id, IssuedCert.role == "enrolled", IssuedCert.user_name == user_name
            )
        )
    )
    if not certs:
        raise errors.invalid_parameter("user_name", f"no certificate was issued to {user_name} in {org.name}")
    if upload:
        serials = _uploaded_serials(upload, org_pki.ca_cert.encode(), user_name)
        certs = [c for c in certs if c.serial in serials]
        if not certs:
            raise errors.invalid_parameter("file", f"the certificate is not one OpenBCS issued to {user_name}")
    targets = [c for c in certs if (c.revoked_at is None) == frozen]
    if not targets:
        raise errors.wrong_state(f"user {user_name}", "already frozen" if frozen else "not frozen")
    now = now_ns()
    for cert in targets:
        cert.revoked_at = now if frozen else None
    org_pki.crl_number += 1
    monitoring.record(
        session,
        blockchain_id=instance.id,
        project_id=instance.project_id,
        name="CertFrozen" if frozen else "CertUnfrozen",
        message=f"{len(targets)} certificate(s) of {user_name} in {org.name} {'frozen' if frozen else 'unfrozen'}",
        metadata={"org": org.name, "user": user_name, "serials": ",".join(c.serial for c in targets)},
    )
    return len(targets)


# --- SDK configuration ----------------------------------------------------------------------------------------------


def _channel_for(session: Session, instance: Any, name: str) -> Any:
    own = channels.find_channel(session, blockchain_id=instance.id, name=name)
    if own is not None:
        return own
    for channel, _orgs in channels.foreign_memberships(session, blockchain_id=instance.id):
        if channel.name == name:
            return channel
    raise errors.BCSError(errors.CHANNEL_NOT_FOUND, f"Input channel {name} is not exist")


def sdk_config(session: Session, *, project_id: str, blockchain_id: str, body: SdkConfigBody) -> Archive:
    """DownloadBlockchainSdkConfig: a Fabric connection profile (YAML) and the certificates it references."""
    instance = blockchains.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    if body.is_multi_chan:
        if not body.channel_chaincode:
            raise errors.missing_parameter("channel_chaincode")
        chaincodes = body.channel_chaincode
    else:
        if not body.chaincode_name:
            raise errors.missing_parameter("chaincode_name")
        if not body.channel_name:
            raise errors.missing_parameter("channel_name")
        chaincodes = {body.channel_name: [body.chaincode_name]}
    for names in chaincodes.values():
        for name in names:
            if not CHAINCODE_NAME.fullmatch(name):
                raise errors.invalid_parameter(
                    "chaincode_name", f"{name}: 6-25 lower-case letters and digits, starting with a letter"
                )
    channel_rows = {name: _channel_for(session, instance, name) for name in chaincodes}
    root = body.cert_path.rstrip("/")
    files: dict[str, bytes] = {}
    organizations: dict[str, Any] = {}
    peers: dict[str, Any] = {}
    selected: list[str] = []
    for org_name, indexes in body.peer_orgs.items():
        org = blockchains.org_named(session, instance.id, org_name)
        org_pki = _pki_of(session, org)
        nodes = blockchains.nodes_of(session, org.id)
        for index in indexes:
            if not PEER_INDEX.fullmatch(index):
                raise errors.invalid_parameter(f"peer_orgs.{org_name}", f"{org_name} has no peer {index}")
        if not indexes or [int(i) for i in indexes] != sorted({int(i) for i in indexes}):
            raise errors.invalid_parameter(f"peer_orgs.{org_name}", "peer indexes in ascending order, each once")
        domain = _domain(org)
        tlsca_path = f"{org.name}/tlsca/tlsca.{domain}-cert.pem"
        files[tlsca_path] = org_pki.tlsca_cert.encode()
        admin = _one(session, org.id, "admin")
        files[f"{org.name}/admin/{admin.subject}-cert.pem"] = admin.cert.encode()
        org_peers = []
        for index in indexes:
            if int(index) >= len(nodes):
                raise errors.invalid_parameter(f"peer_orgs.{org_name}", f"{org_name} has no peer {index}")
            node = nodes[int(index)]
            for channel_name, channel in channel_rows.items():
                if node.id not in channels.peer_ids_in(session, channel):
                    raise errors.wrong_state(f"peer {node.name}", f"not in channel {channel_name}")
            domain_port, _ip = blockchains.node_address(org, node)
            host = domain_port.rsplit(":", 1)[0]
            peers[node.name] = {
                "url": f"grpcs://{domain_port}",
                "tlsCACerts": {"path": f"{root}/{tlsca_path}"},
                "grpcOptions": {"ssl-target-name-override": host, "hostnameOverride": host},
            }
            org_peers.append(node.name)
            selected.append(node.name)
        organizations[org.name] = {
            "mspid": f"{org.name_hash}MSP",
            "peers": org_peers,
            "signedCert": {"path": f"{root}/{org.name}/admin/{admin.subject}-cert.pem"},
        }
    if body.union_info:
        for member, hashes in body.union_info.items():
            for name_hash in hashes:
                if not re.fullmatch(r"[0-9a-f]{40}", name_hash):
                    raise errors.invalid_parameter(f"union_info.{member}", f"{name_hash} is not an organisation hash")
    orderers: dict[str, Any] = {}
    orderer_names: list[str] = []
    owner_ids = {channel.blockchain_id for channel in channel_rows.values()}
    for owner_id in owner_ids:
        for org in blockchains.orgs_of(session, owner_id, role="orderer"):
            org_pki = _pki_of(session, org)
            tlsca_path = f"orderer/tlsca/tlsca.{_domain(org)}-cert.pem"
            files[tlsca_path] = org_pki.tlsca_cert.encode()
            for node in blockchains.nodes_of(session, org.id):
                domain_port, _ip = blockchains.node_address(org, node)
                host = domain_port.rsplit(":", 1)[0]
                orderers[node.name] = {
                    "url": f"grpcs://{domain_port}",
                    "tlsCACerts": {"path": f"{root}/{tlsca_path}"},
                    "grpcOptions": {"ssl-target-name-override": host, "hostnameOverride": host},
                }
                orderer_names.append(node.name)
    profile = {
        "name": f"{instance.name}-sdk-config",
        "version": "1.0.0",
        "client": {"organization": next(iter(organizations)), "connection": {"timeout": {"peer": {"endorser": "300"}}}},
        "organizations": organizations,
        "orderers": orderers,
        "peers": peers,
        "channels": {
            name: {
                "orderers": orderer_names,
                "peers": {
                    peer: {"endorsingPeer": True, "chaincodeQuery": True, "ledgerQuery": True, "eventSource": True}
                    for peer in selected
                },
                "chaincodes": chaincodes[name],
            }
            for name in chaincodes
        },
    }
    files["sdk-config.yaml"] = yaml.safe_dump(profile, sort_keys=False).encode()
    return Archive(f"{instance.name}-sdk-config.zip", pki.zip_files(files))
