"""The channel participation client against a real Fabric 2.5 orderer (its admin endpoint with mutual TLS)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from fabric_protos.common.common_pb2 import Block, BlockData, BlockHeader
from fabric_protos.common.configtx_pb2 import ConfigUpdateEnvelope

from openbcs.fabric import Signer, config_update_tx
from openbcs.runtime.local import osnadmin
from openbcs.runtime.local.osnadmin import AdminConnectionError, AdminTLS, OrdererAdminError
from openbcs.runtime.specs import PortName
from tests.runtime.local.realnet import RealNet, build_net, fabric_bin_or_skip, free_ports, make_org

CHANNEL = "participation"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealNet]:
    """One running orderer (no peer: the admin endpoint is all these tests use)."""
    binaries = fabric_bin_or_skip()
    net = build_net(tmp_path_factory.mktemp("osnadmin"), binaries)
    try:
        net.start(net.orderer.name)
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="module")
def admin(net: RealNet) -> str:
    """The orderer's admin endpoint ``host:port``."""
    return net.orderer.endpoint.address(PortName.ADMIN)


@pytest.fixture(scope="module")
def tls(net: RealNet) -> AdminTLS:
    """The orderer organisation admin's TLS client pair, trusting the orderer's TLS CA."""
    org = net.orderer_org
    return AdminTLS(org.tls_ca.cert_pem, org.admin_tls.cert_pem, org.admin_tls.key_pem)


@pytest.fixture(scope="module")
def joined(net: RealNet, admin: str, tls: AdminTLS) -> tuple[osnadmin.ChannelInfo, bytes]:
    """The orderer joined to ``CHANNEL`` with OpenBCS's block 0: the join's answer and the block."""
    block = net.genesis(CHANNEL).SerializeToString()
    return osnadmin.join(admin, CHANNEL, block, tls), block


def test_join_answers_an_active_consenter_at_height_1(joined: tuple[osnadmin.ChannelInfo, bytes]) -> None:
    info, _ = joined
    assert info == osnadmin.ChannelInfo(name=CHANNEL, status="active", consensus_relation="consenter", height=1)


def test_joined_channel_is_listed_and_described(
    joined: tuple[osnadmin.ChannelInfo, bytes], admin: str, tls: AdminTLS
) -> None:
    assert CHANNEL in osnadmin.list_channels(admin, tls)
    info = osnadmin.channel_info(admin, CHANNEL, tls)
    assert info is not None
    assert (info.name, info.status, info.consensus_relation) == (CHANNEL, "active", "consenter")
    assert info.height >= 1


def test_joining_again_is_refused_with_fabrics_reason(
    joined: tuple[osnadmin.ChannelInfo, bytes], admin: str, tls: AdminTLS
) -> None:
    _, block = joined
    with pytest.raises(OrdererAdminError) as caught:
        osnadmin.join(admin, CHANNEL, block, tls)
    assert caught.value.status == 405
    assert caught.value.message == "cannot join: channel already exists"


def test_unknown_channel_has_no_info_and_removing_it_is_a_no_op(admin: str, tls: AdminTLS) -> None:
    assert osnadmin.channel_info(admin, "never-joined", tls) is None
    osnadmin.remove(admin, "never-joined", tls)


def test_remove_leaves_the_channel(net: RealNet, admin: str, tls: AdminTLS) -> None:
    osnadmin.join(admin, "leaving", net.genesis("leaving").SerializeToString(), tls)
    assert "leaving" in osnadmin.list_channels(admin, tls)
    osnadmin.remove(admin, "leaving", tls)
    osnadmin.remove(admin, "leaving", tls)  # pending removal (409) or gone (404): both are fine
    # The ledger is deleted in the background; the channel stays listed until then.
    deadline = time.monotonic() + 10
    while "leaving" in osnadmin.list_channels(admin, tls) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "leaving" not in osnadmin.list_channels(admin, tls)
    assert osnadmin.channel_info(admin, "leaving", tls) is None


def not_a_config_block(channel_id: str) -> bytes:
    """A block 0 whose only envelope is an (empty) CONFIG_UPDATE transaction for ``channel_id``, not a CONFIG."""
    org = make_org("submitters", dt.datetime.now(dt.UTC))
    signer = Signer(org.msp_id, org.admin.cert_pem, org.admin.key_pem)
    envelope, _ = config_update_tx(channel_id, ConfigUpdateEnvelope(), signer, dt.datetime.now(dt.UTC))
    return Block(header=BlockHeader(number=0), data=BlockData(data=[envelope.SerializeToString()])).SerializeToString()


def test_a_block_that_is_not_a_config_block_is_refused_with_400(admin: str, tls: AdminTLS) -> None:
    with pytest.raises(OrdererAdminError) as caught:
        osnadmin.join(admin, "bogus", not_a_config_block("bogus"), tls)
    assert caught.value.status == 400
    assert caught.value.message.startswith("invalid join block")


def test_a_client_certificate_from_another_ca_is_refused_at_the_tls_layer(
    net: RealNet, admin: str, tls: AdminTLS
) -> None:
    # The peer organisation's admin: a valid TLS pair, but not from a CA in ORDERER_ADMIN_TLS_CLIENTROOTCAS.
    stranger = AdminTLS(tls.ca_cert, net.peer_org.admin_tls.cert_pem, net.peer_org.admin_tls.key_pem)
    with pytest.raises(AdminConnectionError) as caught:
        osnadmin.list_channels(admin, stranger)
    assert caught.value.status == 0
    assert "unknown ca" in caught.value.message.lower()


def test_an_orderer_not_issued_by_the_trusted_ca_is_not_believed(net: RealNet, admin: str, tls: AdminTLS) -> None:
    wrong_ca = AdminTLS(net.peer_org.tls_ca.cert_pem, tls.client_cert, tls.client_key)
    with pytest.raises(AdminConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        osnadmin.list_channels(admin, wrong_ca)


def test_join_checks_the_blocks_channel_before_sending() -> None:
    org = make_org("checkers", dt.datetime.now(dt.UTC))
    tls = AdminTLS(org.tls_ca.cert_pem, org.admin_tls.cert_pem, org.admin_tls.key_pem)
    block = not_a_config_block("one")
    # Nothing listens on the address: the check must come first.
    (port,) = free_ports(1)
    with pytest.raises(ValueError, match="for channel 'one', not 'two'"):
        osnadmin.join(f"127.0.0.1:{port}", "two", block, tls)
    with pytest.raises(ValueError, match="not a config block"):
        osnadmin.join(f"127.0.0.1:{port}", "two", b"\xff\xff", tls)


def test_nothing_listening_is_a_connection_error() -> None:
    org = make_org("lonely", dt.datetime.now(dt.UTC))
    tls = AdminTLS(org.tls_ca.cert_pem, org.admin_tls.cert_pem, org.admin_tls.key_pem)
    (port,) = free_ports(1)
    with pytest.raises(AdminConnectionError, match="ConnectError"):
        osnadmin.list_channels(f"127.0.0.1:{port}", tls)
