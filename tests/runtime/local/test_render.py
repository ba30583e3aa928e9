"""write_node: the home's files and their modes, the launch environment, idempotence (no Fabric binaries needed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml

from openbcs.network.pki import node_ous_config
from openbcs.runtime.local.binaries import Binaries
from openbcs.runtime.local.render import NodeLaunch, write_node
from openbcs.runtime.specs import Endpoint, NodeRole, NodeSpec, PortName
from tests.runtime.local.realnet import Org, make_org, node_identity

NOW = dt.datetime.now(dt.UTC)
CORE_YAML = """peer:
  id: jdoe
vm:
  # Docker
  endpoint: unix:///var/run/docker.sock
  docker:
    tls: {enabled: false}
"""
ORDERER_YAML = "# Fabric's sample\nGeneral:\n  ListenPort: 7050\n"


@pytest.fixture(scope="module")
def org() -> Org:
    return make_org("render", NOW)


@pytest.fixture
def fabric(tmp_path: Path) -> Binaries:
    config = tmp_path / "release" / "config"
    config.mkdir(parents=True)
    (config / "core.yaml").write_text(CORE_YAML)
    (config / "orderer.yaml").write_text(ORDERER_YAML)
    return Binaries(Path("/opt/x/bin/orderer"), Path("/opt/x/bin/peer"), config, "2.5.16")


def orderer_spec(org: Org, home: Path, host: str = "127.0.0.7") -> NodeSpec:
    ports = {PortName.LISTEN: 17050, PortName.ADMIN: 17053, PortName.OPERATIONS: 19443}
    return NodeSpec(
        "orderer0", NodeRole.ORDERER, Endpoint(host, ports), node_identity(org, "orderer", "orderer0", host, NOW), home,
        admin_tls_ca=b"admin tls ca\n",
    )  # fmt: skip


def peer_spec(org: Org, home: Path, host: str = "127.0.0.8") -> NodeSpec:
    ports = {PortName.LISTEN: 17051, PortName.CHAINCODE: 17052, PortName.OPERATIONS: 19444}
    return NodeSpec("peer0", NodeRole.PEER, Endpoint(host, ports), node_identity(org, "peer", "peer0", host, NOW), home)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_orderer_home_layout_and_modes(org: Org, fabric: Binaries, tmp_path: Path) -> None:
    spec = orderer_spec(org, tmp_path / "home")
    write_node(spec, fabric)
    home, ident = spec.home, spec.identity
    expected = {
        "msp/cacerts/ca.pem": (ident.ca_cert, 0o644),
        "msp/tlscacerts/tlsca.pem": (ident.tlsca_cert, 0o644),
        "msp/signcerts/cert.pem": (ident.cert, 0o644),
        "msp/keystore/key.pem": (ident.key, 0o600),
        "msp/config.yaml": (node_ous_config("ca.pem"), 0o644),
        "tls/server.crt": (ident.tls_cert, 0o644),
        "tls/server.key": (ident.tls_key, 0o600),
        "tls/ca.crt": (ident.tlsca_cert, 0o644),
        "admin-ca.crt": (b"admin tls ca\n", 0o644),
        "orderer.yaml": (ORDERER_YAML.encode(), 0o644),
    }
    for relative, (content, file_mode) in expected.items():
        assert (home / relative).read_bytes() == content, relative
        assert mode(home / relative) == file_mode, relative
    for relative in ("ledger", "etcdraft/wal", "etcdraft/snapshot"):
        assert (home / relative).is_dir()
    assert mode(home) == 0o700
    assert not (home / "core.yaml").exists()
    assert not list(home.rglob(".*.tmp"))  # no temporary file left behind


def test_orderer_launch_settings(org: Org, fabric: Binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORE_PEER_ID", "leaked")
    monkeypatch.setenv("ORDERER_GENERAL_LISTENPORT", "1")
    monkeypatch.setenv("SOME_SECRET", "x")
    spec = orderer_spec(org, tmp_path / "home")
    launch = write_node(spec, fabric)
    home = spec.home
    assert launch.argv == ["/opt/x/bin/orderer"]
    assert launch.cwd == home
    assert launch.log_path == home / "node.log"
    assert launch.health_url == "http://127.0.0.7:19443/healthz"
    env = launch.env
    assert {"CORE_PEER_ID", "SOME_SECRET"}.isdisjoint(env)
    assert not [name for name in env if name.startswith("CORE_")]
    assert env["HOME"] == env["FABRIC_CFG_PATH"] == str(home)
    assert env["FABRIC_LOGGING_SPEC"] == "info"
    assert "%{color" not in env["FABRIC_LOGGING_FORMAT"]
    assert "PATH" in env
    tls = f"{home}/tls"
    assert (
        env
        | {
            "ORDERER_GENERAL_LISTENADDRESS": "127.0.0.7",
            "ORDERER_GENERAL_LISTENPORT": "17050",
            "ORDERER_GENERAL_LOCALMSPID": org.msp_id,
            "ORDERER_GENERAL_LOCALMSPDIR": f"{home}/msp",
            "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
            "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
            "ORDERER_GENERAL_TLS_ENABLED": "true",
            "ORDERER_GENERAL_TLS_CERTIFICATE": f"{tls}/server.crt",
            "ORDERER_GENERAL_TLS_PRIVATEKEY": f"{tls}/server.key",
            "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls}/ca.crt]",
            "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": f"{tls}/server.crt",
            "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": f"{tls}/server.key",
            "ORDERER_GENERAL_CLUSTER_ROOTCAS": f"[{tls}/ca.crt]",
            "ORDERER_ADMIN_LISTENADDRESS": "127.0.0.7:17053",
            "ORDERER_ADMIN_TLS_ENABLED": "true",
            "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
            "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{home}/admin-ca.crt]",
            "ORDERER_OPERATIONS_LISTENADDRESS": "127.0.0.7:19443",
            "ORDERER_OPERATIONS_TLS_ENABLED": "false",
            "ORDERER_METRICS_PROVIDER": "prometheus",
            "ORDERER_FILELEDGER_LOCATION": f"{home}/ledger",
            "ORDERER_CONSENSUS_WALDIR": f"{home}/etcdraft/wal",
            "ORDERER_CONSENSUS_SNAPDIR": f"{home}/etcdraft/snapshot",
        }
        == env
    )
    # Every path the node is given exists (Fabric reports a missing file only when it first reads it).
    for value in env.values():
        for path in value.strip("[]").split(","):
            if path.startswith(str(home)) and not path.endswith("node.log"):
                assert Path(path).exists(), path


def test_peer_home_and_launch_settings(org: Org, fabric: Binaries, tmp_path: Path) -> None:
    spec = peer_spec(org, tmp_path / "home")
    launch = write_node(spec, fabric)
    home = spec.home
    assert launch.argv == ["/opt/x/bin/peer", "node", "start"]
    assert launch.health_url == "http://127.0.0.8:19444/healthz"
    assert mode(home / "msp/keystore/key.pem") == mode(home / "tls/server.key") == 0o600
    assert not (home / "admin-ca.crt").exists()
    assert (home / "ledger").is_dir()
    assert (home / "snapshots").is_dir()
    # core.yaml is Fabric's with vm.endpoint emptied: no Docker check in /healthz.
    core = yaml.safe_load((home / "core.yaml").read_text())
    assert core == yaml.safe_load(CORE_YAML) | {"vm": {"endpoint": "", "docker": {"tls": {"enabled": False}}}}
    env = launch.env
    assert not [name for name in env if name.startswith("ORDERER_")]
    assert (
        env
        | {
            "FABRIC_CFG_PATH": str(home),
            "CORE_PEER_ID": "peer0",
            "CORE_PEER_ADDRESS": "127.0.0.8:17051",
            "CORE_PEER_LISTENADDRESS": "127.0.0.8:17051",
            "CORE_PEER_CHAINCODEADDRESS": "127.0.0.8:17052",
            "CORE_PEER_CHAINCODELISTENADDRESS": "127.0.0.8:17052",
            "CORE_PEER_GOSSIP_EXTERNALENDPOINT": "127.0.0.8:17051",
            "CORE_PEER_GOSSIP_BOOTSTRAP": "127.0.0.8:17051",
            "CORE_PEER_GOSSIP_USELEADERELECTION": "false",
            "CORE_PEER_GOSSIP_ORGLEADER": "true",
            "CORE_PEER_LOCALMSPID": org.msp_id,
            "CORE_PEER_MSPCONFIGPATH": f"{home}/msp",
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_CERT_FILE": f"{home}/tls/server.crt",
            "CORE_PEER_TLS_KEY_FILE": f"{home}/tls/server.key",
            "CORE_PEER_TLS_ROOTCERT_FILE": f"{home}/tls/ca.crt",
            "CORE_PEER_FILESYSTEMPATH": f"{home}/ledger",
            "CORE_LEDGER_SNAPSHOTS_ROOTDIR": f"{home}/snapshots",
            "CORE_OPERATIONS_LISTENADDRESS": "127.0.0.8:19444",
            "CORE_OPERATIONS_TLS_ENABLED": "false",
            "CORE_METRICS_PROVIDER": "prometheus",
            "CORE_VM_ENDPOINT": "",
        }
        == env
    )


def test_rendering_again_is_idempotent_and_keeps_the_ledger(org: Org, fabric: Binaries, tmp_path: Path) -> None:
    spec = peer_spec(org, tmp_path / "home")
    first = write_node(spec, fabric)
    snapshot = {p: p.read_bytes() for p in spec.home.rglob("*") if p.is_file()}
    block = spec.home / "ledger" / "ledgersData" / "chains" / "blockfile_000000"
    block.parent.mkdir(parents=True)
    block.write_bytes(b"blocks")
    (spec.home / "node.log").write_text("earlier run\n")
    assert write_node(spec, fabric) == first
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert block.read_bytes() == b"blocks"
    assert (spec.home / "node.log").read_text() == "earlier run\n"
    # A new identity (e.g. a renewed TLS certificate) replaces the old files, modes kept.
    renewed = dataclasses.replace(spec, identity=node_identity(org, "peer", "peer0", "127.0.0.8", NOW))
    write_node(renewed, fabric)
    assert (spec.home / "tls/server.key").read_bytes() == renewed.identity.tls_key != spec.identity.tls_key
    assert mode(spec.home / "tls/server.key") == 0o600


def test_relative_home_becomes_absolute(
    org: Org, fabric: Binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    launch = write_node(peer_spec(org, Path("rel/peer0")), fabric)
    assert launch.cwd == tmp_path / "rel/peer0"
    assert launch.env["CORE_PEER_MSPCONFIGPATH"] == f"{tmp_path}/rel/peer0/msp"


def test_ipv6_loopback_addresses_are_bracketed(org: Org, fabric: Binaries, tmp_path: Path) -> None:
    launch: NodeLaunch = write_node(orderer_spec(org, tmp_path / "home", host="::1"), fabric)
    assert launch.env["ORDERER_GENERAL_LISTENADDRESS"] == "::1"
    assert launch.env["ORDERER_ADMIN_LISTENADDRESS"] == "[::1]:17053"
    assert launch.health_url == "http://[::1]:19443/healthz"


def test_orderer_without_admin_ca_is_refused(org: Org, fabric: Binaries, tmp_path: Path) -> None:
    spec = dataclasses.replace(orderer_spec(org, tmp_path / "home"), admin_tls_ca=None)
    with pytest.raises(ValueError, match="admin_tls_ca is required"):
        write_node(spec, fabric)


def test_missing_port_is_refused_by_name(org: Org, fabric: Binaries, tmp_path: Path) -> None:
    spec = peer_spec(org, tmp_path / "home")
    spec = dataclasses.replace(
        spec, endpoint=Endpoint(spec.endpoint.host, {PortName.LISTEN: 1, PortName.OPERATIONS: 2})
    )
    with pytest.raises(ValueError, match="peer peer0: no chaincode port"):
        write_node(spec, fabric)
    assert not spec.home.exists()  # refused before anything is written
