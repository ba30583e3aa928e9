"""DownloadBlockchainSdkConfig: a Fabric connection profile whose peers and orderers are the instance's, with the
TLS CA certificates it references in the zip under cert_path; and every body rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from tests.certs.helpers import (
    Certs,
    cert,
    domain,
    filename,
    issued_by,
    issued_rows,
    org_pki,
    pki_state,
    refused,
    sans,
    unchanged,
    unzip,
)
from tests.support.accounts import TestAccount
from tests.support.bodies import DEFAULT_ORG, override
from tests.support.consortia import setup_consortium
from tests.support.expected import msp_id, orderer_names, org_hash, peer_names

ROOT = "/opt/app/crypto"
BODY: dict[str, Any] = {
    "chaincode_name": "mycc01",
    "cert_path": ROOT,
    "channel_name": "channel",
    "peer_orgs": {"orga": ["0", "1"], "orgb": ["0"]},
}
ROLES = {"endorsingPeer": True, "chaincodeQuery": True, "ledgerQuery": True, "eventSource": True}


def _body(**changes: Any) -> dict[str, Any]:
    """BODY with ``changes`` (a change of ``None`` leaves the field out)."""
    return override(BODY, changes)


def _in_zip(files: dict[str, bytes], path: str, root: str = ROOT) -> bytes:
    assert path.startswith(f"{root}/"), path
    return files[path.removeprefix(f"{root}/")]


def _profile(certs: Certs, bid: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    response = certs.sdk_cfg(bid, body)
    assert response.status_code == 200, response.text
    assert filename(response) == "bcs-certs-sdk-config.zip"
    files = unzip(response)
    return yaml.safe_load(files["sdk-config.yaml"]), files


def _check_endpoint(
    entry: dict[str, Any], files: dict[str, bytes], db: Database, bid: str, org: str, node: str, host: str, port: int
) -> None:
    assert entry["url"] == f"grpcs://{host}:{port}"
    assert entry["grpcOptions"]["ssl-target-name-override"] == host
    tlsca_pem = _in_zip(files, entry["tlsCACerts"]["path"])
    assert tlsca_pem.decode() == org_pki(db, bid, org).tlsca_cert
    tlsca = cert(tlsca_pem)
    (row,) = issued_rows(db, bid, org, role="node-tls", node_name=node)
    node_tls = cert(row.cert)
    assert issued_by(node_tls, tlsca)
    assert host in sans(node_tls)[0]


def test_the_profile_names_the_instances_nodes_and_ships_their_tls_cas(certs: Certs, bid: str, db: Database) -> None:
    before = pki_state(db)
    profile, files = _profile(certs, bid, BODY)
    endpoints = certs.endpoints(bid)
    channels = certs.channels(bid)

    assert profile["name"] == "bcs-certs-sdk-config"
    assert profile["version"]
    assert profile["client"]["organization"] == "orga"
    assert "certificateAuthorities" not in profile
    assert set(profile["organizations"]) == {"orga", "orgb"}
    for org, entry in profile["organizations"].items():
        assert entry["mspid"] == msp_id(bid, org)
        admin_pem = _in_zip(files, entry["signedCert"]["path"])
        admin = certs.archive(bid, org, "admin")
        assert admin_pem == admin[f"msp/signcerts/Admin@{org}-cert.pem"]
        assert issued_by(cert(admin_pem), cert(org_pki(db, bid, org).ca_cert))
    assert profile["organizations"]["orga"]["peers"] == peer_names(bid, "orga", 2)
    assert profile["organizations"]["orgb"]["peers"] == peer_names(bid, "orgb", 1)

    peers = {p for o in profile["organizations"].values() for p in o["peers"]}
    assert set(profile["peers"]) == peers
    for org, entry in profile["organizations"].items():
        for node in entry["peers"]:
            assert node in endpoints[org]  # ShowBlockchainNodes
            assert node in channels["channel"]["peers"][org]  # ListBlockchainChannels
            host, _ip = endpoints[org][node]
            _check_endpoint(profile["peers"][node], files, db, bid, org, node, host, 7051)
            assert (
                profile["peers"][node]["tlsCACerts"]["path"] == f"{ROOT}/{org}/tlsca/tlsca.{domain(bid, org)}-cert.pem"
            )

    assert list(profile["orderers"]) == channels["channel"]["consensusNodes"]["orderer"]
    for node, entry in profile["orderers"].items():
        host, _ip = endpoints["orderer"][node]
        _check_endpoint(entry, files, db, bid, "orderer", node, host, 7050)
        assert entry["tlsCACerts"]["path"] == f"{ROOT}/orderer/tlsca/tlsca.{domain(bid, 'orderer')}-cert.pem"

    assert profile["channels"] == {
        "channel": {
            "orderers": list(profile["orderers"]),
            "peers": dict.fromkeys(profile["peers"], ROLES),
            "chaincodes": ["mycc01"],
        }
    }
    # Every file of the zip is the profile or a certificate it references, and holds no private key.
    referenced = {p["tlsCACerts"]["path"] for p in [*profile["peers"].values(), *profile["orderers"].values()]}
    referenced |= {o["signedCert"]["path"] for o in profile["organizations"].values()}
    assert {f"{ROOT}/{name}" for name in files if name != "sdk-config.yaml"} == referenced
    assert b"PRIVATE KEY" not in b"".join(files.values())
    assert pki_state(db) == before


def test_a_subset_of_peers_and_other_cert_paths(certs: Certs, make_instance: Any, db: Database) -> None:
    bid = make_instance(peer_orgs=[("orga", 3), ("orgb", 1)])
    profile, files = _profile(certs, bid, _body(peer_orgs={"orga": ["0", "2"]}, cert_path="crypto/"))
    peers = [peer_names(bid, "orga", 3)[i] for i in (0, 2)]
    assert list(profile["organizations"]) == ["orga"]
    assert profile["organizations"]["orga"]["peers"] == peers
    assert set(profile["peers"]) == set(profile["channels"]["channel"]["peers"]) == set(peers)
    for entry in profile["peers"].values():
        assert entry["tlsCACerts"]["path"].startswith("crypto/orga/tlsca/")
        _in_zip(files, entry["tlsCACerts"]["path"], "crypto")
    assert {name.split("/")[0] for name in files if name != "sdk-config.yaml"} == {"orga", "orderer"}


def test_several_channels_with_is_multi_chan(certs: Certs, bid: str, db: Database) -> None:
    body = _body(
        is_multi_chan=True,
        chaincode_name="",
        channel_name="",
        peer_orgs={"orga": ["0", "1"]},
        channel_chaincode={"channel": ["mycc01", "othercc"], "chantwo": ["thirdcc"]},
        union_info={"member": [org_hash(bid, "orga")]},
    )
    profile, _files = _profile(certs, bid, body)
    assert set(profile["channels"]) == {"channel", "chantwo"}
    assert profile["channels"]["channel"]["chaincodes"] == ["mycc01", "othercc"]
    assert profile["channels"]["chantwo"]["chaincodes"] == ["thirdcc"]
    for channel in profile["channels"].values():
        assert set(channel["peers"]) == set(profile["organizations"]["orga"]["peers"])
        assert channel["orderers"] == list(profile["orderers"])
    # chaincode_name and channel_name may be left out altogether.
    profile2, _ = _profile(certs, bid, {k: v for k, v in body.items() if k not in ("chaincode_name", "channel_name")})
    assert profile2["channels"] == profile["channels"]


BAD_BODIES: list[tuple[dict[str, Any], str, str]] = [
    # (changes, error code, message fragment)
    ({"chaincode_name": "cc1"}, "BCS.4006014", "Invalid Parameter chaincode_name : "),
    ({"chaincode_name": "MyChaincode"}, "BCS.4006014", "Invalid Parameter chaincode_name : "),
    ({"chaincode_name": "1mycc01"}, "BCS.4006014", "Invalid Parameter chaincode_name : "),
    ({"chaincode_name": "my_cc01"}, "BCS.4006014", "Invalid Parameter chaincode_name : "),
    ({"chaincode_name": "mycc01\n"}, "BCS.4006014", "Invalid Parameter chaincode_name : "),
    ({"chaincode_name": "a" * 26}, "BCS.4006014", "Invalid Parameter chaincode_name : "),
    ({"chaincode_name": ""}, "BCS.4006009", "one of parameters is nil: chaincode_name"),
    ({"chaincode_name": None}, "BCS.4006009", "one of parameters is nil: chaincode_name"),
    ({"channel_name": None}, "BCS.4006009", "one of parameters is nil: channel_name"),
    ({"cert_path": None}, "BCS.4006009", "one of parameters is nil: cert_path"),
    ({"cert_path": ""}, "BCS.4006009", "one of parameters is nil: cert_path"),
    ({"peer_orgs": None}, "BCS.4006009", "one of parameters is nil: peer_orgs"),
    ({"peer_orgs": {}}, "BCS.4006014", "peer_orgs"),
    ({"channel_name": "nochan"}, "BCS.4001052", "Input channel nochan is not exist"),
    ({"peer_orgs": {"nope": ["0"]}}, "BCS.4001051", "Input org nope is not exist"),
    ({"peer_orgs": {"orderer": ["0"]}}, "BCS.4001051", "Input org orderer is not exist"),
    ({"peer_orgs": {"orga": []}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["1", "0"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["0", "0"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["0", "00"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["2"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : orga has no peer 2"),
    ({"peer_orgs": {"orgb": ["0", "1"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orgb : orgb has no peer 1"),
    ({"peer_orgs": {"orga": ["-1"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["x"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["\u00b9"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["\u0661"]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": ["0 "]}}, "BCS.4006014", "Invalid Parameter peer_orgs.orga : "),
    ({"peer_orgs": {"orga": [0]}}, "BCS.4006003", "peer_orgs.orga[0]"),
    ({"is_multi_chan": True}, "BCS.4006009", "one of parameters is nil: channel_chaincode"),
    ({"is_multi_chan": True, "channel_chaincode": {}}, "BCS.4006009", "one of parameters is nil: channel_chaincode"),
    ({"is_multi_chan": True, "channel_chaincode": {"nochan": ["mycc01"]}}, "BCS.4001052", "Input channel nochan"),
    ({"is_multi_chan": True, "channel_chaincode": {"channel": ["Bad"]}}, "BCS.4006014", "chaincode_name : Bad"),
    ({"union_info": {"member": ["xyz"]}}, "BCS.4006014", "Invalid Parameter union_info.member : xyz"),
    ({"union_info": {"member": ["A" * 40]}}, "BCS.4006014", "Invalid Parameter union_info.member : "),
    ({"union_info": {"member": ["a" * 41]}}, "BCS.4006014", "Invalid Parameter union_info.member : "),
    ({"surprise": 1}, "BCS.4006014", "Invalid Parameter surprise : unknown field"),
    ({"is_multi_chan": "yes"}, "BCS.4006003", "is_multi_chan"),
]


def test_body_rules(certs: Certs, bid: str, db: Database) -> None:
    with unchanged(db):
        for changes, code, fragment in BAD_BODIES:
            refused(certs.sdk_cfg(bid, _body(**changes)), code, contains=fragment)
        refused(certs.sdk_cfg(bid, b"{not json"), "BCS.4006003")
        refused(certs.sdk_cfg(bid, b""), "BCS.4006009")


def test_a_peer_must_have_joined_every_channel(certs: Certs, bid: str, db: Database) -> None:
    (orgb_peer,) = peer_names(bid, "orgb", 1)
    with unchanged(db):
        # orgb is not in chantwo.
        refused(
            certs.sdk_cfg(bid, _body(channel_name="chantwo")),
            "BCS.4006003",
            f"Invalid Parameter peer {orgb_peer} status : not in channel chantwo",
        )
        refused(
            certs.sdk_cfg(
                bid,
                _body(is_multi_chan=True, channel_chaincode={"channel": ["mycc01"], "chantwo": ["mycc01"]}),
            ),
            "BCS.4006003",
            f"Invalid Parameter peer {orgb_peer} status : not in channel chantwo",
        )
    # Take orga's second peer out of "channel" (BatchRemovePeersFromChannel): it may no longer be named there.
    certs.tenant.run(certs.tenant.remove_peers(bid, "channel", "orga", 1))
    orga_peer0, orga_peer1 = peer_names(bid, "orga", 2)
    assert certs.channels(bid)["channel"]["peers"]["orga"] == [orga_peer0]
    with unchanged(db):
        refused(
            certs.sdk_cfg(bid, _body(peer_orgs={"orga": ["0", "1"]})),
            "BCS.4006003",
            f"Invalid Parameter peer {orga_peer1} status : not in channel channel",
        )
        profile, _ = _profile(certs, bid, _body(peer_orgs={"orga": ["0"]}))
    assert list(profile["peers"]) == [orga_peer0]


def test_a_consortium_members_profile_names_the_channel_owners_orderers(
    client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    """The invitee's organisation joined the inviter's channel: its profile serves that channel with the inviter's
    orderers (the invitee has none), whose TLS CA it ships."""
    consortium = setup_consortium(client, make_account)
    consortium.join()
    invitee_bid, inviter_bid = consortium.invitee_bcs_id, consortium.inviter_bcs_id
    assert invitee_bid is not None
    certs = Certs(consortium.invitee)
    body = _body(peer_orgs={DEFAULT_ORG: ["0", "1"]})
    with unchanged(db):
        response = certs.sdk_cfg(invitee_bid, body)
        assert response.status_code == 200, response.text
        files = unzip(response)
    profile = yaml.safe_load(files["sdk-config.yaml"])
    assert profile["name"] == "bcs-invitee-sdk-config"
    assert list(profile["organizations"]) == [DEFAULT_ORG]
    assert profile["organizations"][DEFAULT_ORG]["mspid"] == msp_id(invitee_bid, DEFAULT_ORG)
    assert list(profile["peers"]) == peer_names(invitee_bid, DEFAULT_ORG, 2)
    assert list(profile["orderers"]) == orderer_names(inviter_bid)
    for entry in profile["orderers"].values():
        assert entry["tlsCACerts"]["path"] == f"{ROOT}/orderer/tlsca/tlsca.{domain(inviter_bid, 'orderer')}-cert.pem"
        assert _in_zip(files, entry["tlsCACerts"]["path"]).decode() == org_pki(db, inviter_bid, "orderer").tlsca_cert
    assert profile["channels"] == {
        "channel": {
            "orderers": orderer_names(inviter_bid),
            "peers": dict.fromkeys(peer_names(invitee_bid, DEFAULT_ORG, 2), ROLES),
            "chaincodes": ["mycc01"],
        }
    }
    # The inviter's own organisation is not the invitee's to name.
    refused(certs.sdk_cfg(invitee_bid, _body(peer_orgs={"orga": ["0"]})), "BCS.4001051", "Input org orga is not exist")
