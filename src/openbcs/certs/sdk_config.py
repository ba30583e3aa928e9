"""DownloadBlockchainSdkConfig: a Fabric connection profile (YAML) and the certificates it references.

The profile names the chosen peers of the caller's organisations, the orderers of every channel's owner (a
consortium member's channel is served by its inviter's orderers), and the chaincodes per channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy.orm import Session

from openbcs.certs.archives import Archive
from openbcs.certs.schemas import SdkConfigBody
from openbcs.kernel import errors
from openbcs.network import endpoints, identities, lookups, pki
from openbcs.network.models import Channel, Instance
from openbcs.network.naming import msp_id, org_domain

CHAINCODE_NAME = re.compile(r"^[a-z][a-z0-9]{5,24}$")
PEER_INDEX = re.compile(r"0|[1-9][0-9]{0,2}")
ORG_HASH = re.compile(r"[0-9a-f]{40}")


@dataclass
class _Profile:
    """The parts of the connection profile as they are collected, and the files it references."""

    root: str
    files: dict[str, bytes] = field(default_factory=dict)
    organizations: dict[str, Any] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)
    orderers: dict[str, Any] = field(default_factory=dict)


def _chaincodes(body: SdkConfigBody) -> dict[str, list[str]]:
    """``{channel: [chaincode names]}`` from either form of the request, names checked."""
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
    return chaincodes


def _node_entry(profile: _Profile, domain_port: str, tlsca_path: str) -> dict[str, Any]:
    host = domain_port.rsplit(":", 1)[0]
    return {
        "url": f"grpcs://{domain_port}",
        "tlsCACerts": {"path": f"{profile.root}/{tlsca_path}"},
        "grpcOptions": {"ssl-target-name-override": host, "hostnameOverride": host},
    }


def _indexes(org_name: str, indexes: list[str]) -> list[int]:
    for index in indexes:
        if not PEER_INDEX.fullmatch(index):
            raise errors.invalid_parameter(f"peer_orgs.{org_name}", f"{org_name} has no peer {index}")
    if not indexes or [int(i) for i in indexes] != sorted({int(i) for i in indexes}):
        raise errors.invalid_parameter(f"peer_orgs.{org_name}", "peer indexes in ascending order, each once")
    return [int(index) for index in indexes]


def _add_peer_org(
    session: Session, profile: _Profile, instance: Instance, org_name: str, indexes: list[str], channels: list[Channel]
) -> None:
    """One of the caller's organisations with its chosen peers, each of which must be in every channel."""
    org = lookups.org_named(session, instance.id, org_name)
    org_pki = identities.pki_of(session, org)
    tlsca_path = f"{org.name}/tlsca/tlsca.{org_domain(org)}-cert.pem"
    profile.files[tlsca_path] = org_pki.tlsca_cert.encode()
    admin = identities.issued(session, org.id, "admin")
    profile.files[f"{org.name}/admin/{admin.subject}-cert.pem"] = admin.cert.encode()
    joined = [lookups.peer_ids_in(session, channel) for channel in channels]
    names = []
    nodes = lookups.nodes_of(session, org.id)
    shown = endpoints.addresses(org, nodes, endpoints.ports_of(session, [n.id for n in nodes]))
    for index in _indexes(org_name, indexes):
        if index >= len(nodes):
            raise errors.invalid_parameter(f"peer_orgs.{org_name}", f"{org_name} has no peer {index}")
        node = nodes[index]
        for channel, members in zip(channels, joined, strict=True):
            if node.id not in members:
                raise errors.wrong_state(f"peer {node.name}", f"not in channel {channel.name}")
        profile.peers[node.name] = _node_entry(profile, shown[node.id][0], tlsca_path)
        names.append(node.name)
    profile.organizations[org.name] = {
        "mspid": msp_id(org),
        "peers": names,
        "signedCert": {"path": f"{profile.root}/{org.name}/admin/{admin.subject}-cert.pem"},
    }


def _add_orderers(session: Session, profile: _Profile, owner_ids: set[str]) -> None:
    """The orderers serving the channels: those of each channel's owning instance."""
    for owner_id in sorted(owner_ids):
        for org in lookups.orgs_of(session, owner_id, role="orderer"):
            org_pki = identities.pki_of(session, org)
            tlsca_path = f"orderer/tlsca/tlsca.{org_domain(org)}-cert.pem"
            profile.files[tlsca_path] = org_pki.tlsca_cert.encode()
            nodes = lookups.nodes_of(session, org.id)
            shown = endpoints.addresses(org, nodes, endpoints.ports_of(session, [n.id for n in nodes]))
            for node in nodes:
                profile.orderers[node.name] = _node_entry(profile, shown[node.id][0], tlsca_path)


def _check_union_info(body: SdkConfigBody) -> None:
    for member, hashes in (body.union_info or {}).items():
        for name_hash in hashes:
            if not ORG_HASH.fullmatch(name_hash):
                raise errors.invalid_parameter(f"union_info.{member}", f"{name_hash} is not an organisation hash")


def sdk_config(session: Session, *, project_id: str, blockchain_id: str, body: SdkConfigBody) -> Archive:
    """DownloadBlockchainSdkConfig: a Fabric connection profile (YAML) and the certificates it references."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    chaincodes = _chaincodes(body)
    channels = {name: lookups.visible_channel(session, instance, name) for name in chaincodes}
    profile = _Profile(root=body.cert_path.rstrip("/"))
    for org_name, indexes in body.peer_orgs.items():
        _add_peer_org(session, profile, instance, org_name, indexes, list(channels.values()))
    _check_union_info(body)
    _add_orderers(session, profile, {channel.blockchain_id for channel in channels.values()})
    peer_roles = {"endorsingPeer": True, "chaincodeQuery": True, "ledgerQuery": True, "eventSource": True}
    document = {
        "name": f"{instance.name}-sdk-config",
        "version": "1.0.0",
        "client": {
            "organization": next(iter(profile.organizations)),
            "connection": {"timeout": {"peer": {"endorser": "300"}}},
        },
        "organizations": profile.organizations,
        "orderers": profile.orderers,
        "peers": profile.peers,
        "channels": {
            name: {
                "orderers": list(profile.orderers),
                "peers": {peer: dict(peer_roles) for peer in profile.peers},
                "chaincodes": chaincodes[name],
            }
            for name in chaincodes
        },
    }
    profile.files["sdk-config.yaml"] = yaml.safe_dump(document, sort_keys=False).encode()
    return Archive(f"{instance.name}-sdk-config.zip", pki.zip_files(profile.files))
