"""The gRPC clients against a real Fabric 2.5 orderer and peer: join, Broadcast of a real CONFIG_UPDATE, Deliver,
and the peer's cscc/qscc answers."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc
import pytest
from fabric_protos.common.common_pb2 import Block
from fabric_protos.common.configtx_pb2 import Config, ConfigUpdate

from openbcs.fabric import (
    AnchorPeer,
    ApplicationOrg,
    ChannelSpec,
    Consenter,
    OrdererSpec,
    Signer,
    apply_update,
    block_header_hash,
    build_config,
    compute_update,
    compute_update_or_none,
    config_of,
    config_update_tx,
    sign_update,
)
from openbcs.network import pki
from openbcs.runtime.local import osnadmin, wire
from openbcs.runtime.specs import PortName
from tests.runtime.local.realnet import HOST, Org, RealNet, build_net, fabric_bin_or_skip, free_ports, make_org

CHANNEL = "wired"
READY_SECONDS = 30.0  # cold starts take about a second; Raft elects its leader in about another
CATCH_UP_SECONDS = 20.0  # the peer pulls once gossip has elected it leader: 0.1-5 s here

T = TypeVar("T")


def signer(org: Org) -> Signer:
    """An organisation's admin as a signing identity."""
    return Signer(org.msp_id, org.admin.cert_pem, org.admin.key_pem)


def eventually(attempt: Callable[[], T], retry: Callable[[Exception], bool], seconds: float) -> T:
    """``attempt()`` until it returns, retrying the exceptions ``retry`` accepts until ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return attempt()
        except Exception as error:
            if not retry(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@dataclass(frozen=True)
class Wired:
    """A running orderer and peer, both joined to ``CHANNEL``."""

    net: RealNet
    genesis: Block
    orderer: str  # host:port of Broadcast/Deliver
    orderer_ca: bytes
    peer: str
    peer_ca: bytes
    member: Signer  # the peer organisation's admin: a channel member and the peer's local admin


@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wired]:
    """Orderer and peer started from OpenBCS-issued PKI, the orderer joined with osnadmin, the peer with JoinChain."""
    binaries = fabric_bin_or_skip()
    net = build_net(tmp_path_factory.mktemp("wire"), binaries)
    try:
        net.start(net.orderer.name)
        net.start(net.peer.name)
        wired = Wired(
            net=net,
            genesis=net.genesis(CHANNEL),
            orderer=net.orderer.endpoint.address(),
            orderer_ca=net.orderer_org.tls_ca.cert_pem,
            peer=net.peer.endpoint.address(),
            peer_ca=net.peer_org.tls_ca.cert_pem,
            member=signer(net.peer_org),
        )
        org = net.orderer_org
        admin_tls = osnadmin.AdminTLS(org.tls_ca.cert_pem, org.admin_tls.cert_pem, org.admin_tls.key_pem)
        block = wired.genesis.SerializeToString()
        osnadmin.join(net.orderer.endpoint.address(PortName.ADMIN), CHANNEL, block, admin_tls)
        # Deliver answers 503 SERVICE_UNAVAILABLE until the single-node Raft cluster has elected its leader.
        eventually(
            lambda: wire.newest_block_number(wired.orderer, wired.orderer_ca, CHANNEL, wired.member),
            lambda error: isinstance(error, wire.DeliverRefused) and error.status == 503,
            READY_SECONDS,
        )
        wire.join_chain(wired.peer, wired.peer_ca, wired.member, block)
        yield wired
    finally:
        net.stop()


def channel_spec(net: RealNet, anchors: tuple[AnchorPeer, ...] = ()) -> ChannelSpec:
    """The channel as ``RealNet.genesis`` describes it, the peer organisation with ``anchors``."""
    tls_cert = net.orderer.identity.tls_cert
    orderer = OrdererSpec(
        org=net.orderer_org.msp,
        consenters=(Consenter(HOST, net.orderer.endpoint.ports[PortName.LISTEN], tls_cert, tls_cert),),
        addresses=(net.orderer.endpoint.address(),),
        batch_timeout="200ms",
    )
    return ChannelSpec(CHANNEL, orderer, (ApplicationOrg(net.peer_org.msp, anchors),))


@dataclass(frozen=True)
class Applied:
    """A CONFIG_UPDATE giving the peer organisation an anchor peer, and the orderer's answer to it."""

    current: Config
    target: Config
    update: ConfigUpdate
    envelope: bytes
    result: wire.BroadcastResult


@pytest.fixture(scope="module")
def applied(wired: Wired) -> Applied:
    """The anchor-peer update made as OpenBCS makes updates (target config from specs, ``compute_update``), signed
    by the peer organisation's admin (the mod_policy of its AnchorPeers is its Admins), broadcast once."""
    current = config_of(wired.genesis)
    assert build_config(channel_spec(wired.net)) == current  # the spec above mirrors RealNet.genesis
    anchor = AnchorPeer(HOST, wired.net.peer.endpoint.ports[PortName.LISTEN])
    target = build_config(channel_spec(wired.net, (anchor,)))
    update = compute_update(CHANNEL, current, target)
    envelope, _ = config_update_tx(CHANNEL, sign_update(update, [wired.member]), wired.member, dt.datetime.now(dt.UTC))
    raw = envelope.SerializeToString()
    result = wire.broadcast(wired.orderer, wired.orderer_ca, raw)
    return Applied(current, target, update, raw, result)


# --- the peer: cscc JoinChain / GetChannels, qscc GetChainInfo --------------------------------------------------


def test_joined_peer_lists_the_channel_at_height_1(wired: Wired) -> None:
    assert wire.peer_channels(wired.peer, wired.peer_ca, wired.member) == [CHANNEL]
    info = wire.chain_info(wired.peer, wired.peer_ca, wired.member, CHANNEL)
    # Height 1 at least: the anchor-peer update may already have been committed when tests run out of order.
    assert info.height >= 1
    if info.height == 1:
        assert info.current_hash == block_header_hash(wired.genesis.header)


def test_joining_the_peer_again_is_already_joined(wired: Wired) -> None:
    with pytest.raises(wire.AlreadyJoined) as caught:
        wire.join_chain(wired.peer, wired.peer_ca, wired.member, wired.genesis.SerializeToString())
    assert caught.value.status == 500
    assert f"ledger [{CHANNEL}] already exists" in caught.value.message


def test_only_the_peers_own_admin_may_join_it(wired: Wired) -> None:
    now = dt.datetime.now(dt.UTC)
    org = wired.net.peer_org
    client, _ = pki.issue(org.ca, common_name=f"client@{org.name}", organization=org.name, unit="client", now=now)
    # A client of the peer's organisation fails cscc's ACL (a 500 response); a stranger already fails the
    # endorser's check of the proposal's creator (a gRPC error, reported alike).
    for who, reason in (
        (Signer(org.msp_id, client.cert_pem, client.key_pem), "access denied for [JoinChain][wired]"),
        (signer(make_org("strangers", now)), "access denied: channel [] creator org unknown"),
    ):
        with pytest.raises(wire.PeerRefused) as caught:
            wire.join_chain(wired.peer, wired.peer_ca, who, wired.genesis.SerializeToString())
        assert not isinstance(caught.value, wire.AlreadyJoined)
        assert caught.value.status == 500
        assert reason in caught.value.message


def test_chain_info_of_a_channel_the_peer_lacks_is_refused(wired: Wired) -> None:
    with pytest.raises(wire.PeerRefused) as caught:
        wire.chain_info(wired.peer, wired.peer_ca, wired.member, "elsewhere")
    assert caught.value.status == 500


# --- the orderer: Deliver ---------------------------------------------------------------------------------------


def test_deliver_block_0_is_the_genesis_block(wired: Wired) -> None:
    (raw,) = wire.deliver(wired.orderer, wired.orderer_ca, CHANNEL, wired.member, 0, 0)
    assert Block.FromString(raw) == wired.genesis


def test_newest_block_number_matches_what_deliver_reads(wired: Wired) -> None:
    newest = wire.newest_block_number(wired.orderer, wired.orderer_ca, CHANNEL, wired.member)
    blocks = wire.deliver(wired.orderer, wired.orderer_ca, CHANNEL, wired.member, 0, None)
    assert [Block.FromString(raw).header.number for raw in blocks] == list(range(newest + 1))


def test_deliver_to_an_organisation_outside_the_channel_is_forbidden(wired: Wired) -> None:
    outsider = signer(make_org("outsiders", dt.datetime.now(dt.UTC)))
    with pytest.raises(wire.DeliverRefused) as caught:
        wire.deliver(wired.orderer, wired.orderer_ca, CHANNEL, outsider, 0, None)
    assert caught.value.status == 403


def test_deliver_of_an_unknown_channel_is_not_found(wired: Wired) -> None:
    with pytest.raises(wire.DeliverRefused) as caught:
        wire.deliver(wired.orderer, wired.orderer_ca, "elsewhere", wired.member, 0, None)
    assert caught.value.status == 404


def test_deliver_beyond_the_next_block_is_not_found_and_of_the_next_block_waits(wired: Wired) -> None:
    newest = wire.newest_block_number(wired.orderer, wired.orderer_ca, CHANNEL, wired.member)
    with pytest.raises(wire.DeliverRefused) as caught:
        wire.deliver(wired.orderer, wired.orderer_ca, CHANNEL, wired.member, newest + 2, None)
    assert caught.value.status == 404
    # BLOCK_UNTIL_READY: the block after the newest is waited for, here until the deadline.
    with pytest.raises(wire.RpcFailed) as timed_out:
        wire.deliver(wired.orderer, wired.orderer_ca, CHANNEL, wired.member, newest + 1, newest + 1, timeout=0.5)
    # The orderer sees the deadline too (grpc-timeout) and may reset the stream first: CANCELLED then.
    assert timed_out.value.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


# --- the orderer: Broadcast of a real CONFIG_UPDATE, committed by orderer and peer -----------------------------


def test_broadcast_of_a_config_update_is_accepted(applied: Applied) -> None:
    assert applied.result == wire.BroadcastResult(status=200, info="")
    assert applied.result.ok


def test_the_orderer_cuts_block_1_with_the_target_config(wired: Wired, applied: Applied) -> None:
    (raw,) = wire.deliver(wired.orderer, wired.orderer_ca, CHANNEL, wired.member, 1, 1)
    block = Block.FromString(raw)
    assert block.header.number == 1
    assert block.header.previous_hash == block_header_hash(wired.genesis.header)
    config = config_of(block)
    assert config == apply_update(applied.current, applied.update)
    assert compute_update_or_none(CHANNEL, config, applied.target) is None


def test_the_peer_commits_block_1(wired: Wired, applied: Applied) -> None:
    def height_2() -> wire.ChainInfo:
        info = wire.chain_info(wired.peer, wired.peer_ca, wired.member, CHANNEL)
        if info.height < 2:
            raise LookupError(f"peer at height {info.height}")
        return info

    info = eventually(height_2, lambda error: isinstance(error, LookupError), CATCH_UP_SECONDS)
    (raw,) = wire.deliver(wired.orderer, wired.orderer_ca, CHANNEL, wired.member, 1, 1)
    assert info == wire.ChainInfo(height=2, current_hash=block_header_hash(Block.FromString(raw).header))


def test_a_stale_update_is_refused_with_fabrics_reason(wired: Wired, applied: Applied) -> None:
    again = wire.broadcast(wired.orderer, wired.orderer_ca, applied.envelope)
    assert again.status == 400
    assert not again.ok
    assert f"error applying config update to existing channel '{CHANNEL}'" in again.info
    assert "but it is currently at version 1" in again.info


# --- transport failures -----------------------------------------------------------------------------------------


def test_nothing_listening_is_an_rpc_failure() -> None:
    (port,) = free_ports(1)
    ca = make_org("nobody", dt.datetime.now(dt.UTC)).tls_ca.cert_pem
    with pytest.raises(wire.RpcFailed) as caught:
        wire.broadcast(f"{HOST}:{port}", ca, b"", timeout=2)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_a_node_not_issued_by_the_trusted_ca_is_not_believed(wired: Wired) -> None:
    with pytest.raises(wire.RpcFailed) as caught:
        wire.peer_channels(wired.peer, wired.orderer_ca, wired.member, timeout=2)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
