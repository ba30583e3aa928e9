"""A channel's config chain: genesis + membership changes via next_config_block, verified and tampered with."""

from __future__ import annotations

import pytest
from fabric_protos.common.common_pb2 import Block, BlockHeader, ChannelHeader, Envelope, HeaderType, Payload
from fabric_protos.common.configtx_pb2 import ConfigUpdate

from openbcs.fabric import (
    anchor_peers,
    application_orgs,
    apply_update,
    build_config,
    compute_update,
    config_block,
    config_of,
    config_update_tx,
    last_update_of,
    next_config_block,
    sign_update,
    signers_of,
    verify_chain,
)
from openbcs.fabric.read import update_envelope_of
from openbcs.fabric.signing import tx_id

from .conftest import CHANNEL, NOW, ser


def test_chain_verifies(chain, orgs):
    assert verify_chain(chain.raw, chain.updates) == []
    assert verify_chain(chain.raw) == []
    assert chain.signers == {
        1: [orgs[0].msp_id, orgs[1].msp_id],
        2: [orgs[1].msp_id, orgs[0].msp_id, orgs[2].msp_id],
        3: [orgs[2].msp_id],
    }
    for number, raw in chain.updates.items():
        assert signers_of(raw) == chain.signers[number]
        assert signers_of(ser(update_envelope_of(Envelope.FromString(raw))[2])) == chain.signers[number]


def test_chain_contents(chain, orgs):
    configs = [config_of(Block.FromString(raw)) for raw in chain.raw]
    assert [c.sequence for c in configs] == [0, 1, 2, 3]
    assert application_orgs(configs[0]) == sorted(o.msp_id for o in orgs[:3])
    assert application_orgs(configs[1]) == sorted(o.msp_id for o in orgs)
    assert application_orgs(configs[2]) == sorted([orgs[0].msp_id, orgs[2].msp_id, orgs[3].msp_id])
    assert anchor_peers(configs[2], orgs[2].msp_id) == []
    assert anchor_peers(configs[3], orgs[2].msp_id) == [orgs[2].anchor()]
    assert anchor_peers(configs[3], orgs[1].msp_id) == []
    assert last_update_of(chain.blocks[0]) is None
    for block in chain.blocks[1:]:
        update = last_update_of(block)
        assert update is not None
        assert ser(update) == chain.updates[block.header.number]
        payload = Payload.FromString(update.payload)
        header = ChannelHeader.FromString(payload.header.channel_header)
        assert (header.type, header.channel_id) == (HeaderType.CONFIG_UPDATE, CHANNEL)
        _, signature_header, _ = update_envelope_of(update)
        assert header.tx_id == tx_id(signature_header.nonce, signature_header.creator)


def test_nothing_changed_means_no_block(chain, orgs, ordering, ord_org):
    from openbcs.fabric import ChannelSpec

    o = orgs
    same = ChannelSpec(CHANNEL, ordering, (o[0].app([o[0].anchor()]), o[2].app([o[2].anchor()]), o[3].app()))
    assert next_config_block(chain.blocks[-1], same, [o[0].admin], o[0].client, ord_org.orderer, NOW) is None


def _field_spans(raw: bytes) -> dict[int, tuple[int, int]]:
    """Byte ranges of the Block's header (1), data (2) and metadata (3) fields, tag included."""
    spans, pos = {}, 0
    while pos < len(raw):
        start, field = pos, raw[pos] >> 3
        pos += 1
        length, shift = 0, 0
        while True:
            byte = raw[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        pos += length
        spans[field] = (start, pos)
    return spans


def _flip(raw: bytes, position: int, mask: int = 0x01) -> bytes:
    return raw[:position] + bytes([raw[position] ^ mask]) + raw[position + 1 :]


def _positions(start: int, end: int, count: int) -> list[int]:
    step = max(1, (end - start) // count)
    return sorted({*range(start, end, step), end - 1})


@pytest.mark.parametrize("field", [1, 2, 3], ids=["header", "data", "metadata"])
def test_flipped_byte_in_a_block_is_found(chain, field):
    raw = chain.raw
    start, end = _field_spans(raw[2])[field]
    count = {1: 1000, 2: 40, 3: 120}[field]  # every header byte, a sample of the rest
    for position in _positions(start, end, count):
        for mask in (0x01, 0x80):
            tampered = [*raw[:2], _flip(raw[2], position, mask), raw[3]]
            problems = verify_chain(tampered, chain.updates)
            assert problems, f"flip at {position} (mask {mask:#x}) went unnoticed"
            assert problems[0].block == 2, (position, problems)


def test_flipped_byte_in_the_last_block_is_found(chain):
    raw = chain.raw
    for position in _positions(0, len(raw[3]), 100):
        problems = verify_chain([*raw[:3], _flip(raw[3], position)])
        assert problems, position
        assert problems[0].block == 3, position


def test_specific_tampering_reasons(chain):
    raw = chain.raw
    block = Block.FromString(raw[3])
    block.data.data[0] = _flip(block.data.data[0], 100)
    problems = verify_chain([*raw[:3], ser(block)])
    assert str(problems[0]) == "block 3: data_hash does not match its data"

    block = Block.FromString(raw[2])
    block.header.previous_hash = _flip(block.header.previous_hash, 0)
    problems = [str(p) for p in verify_chain([*raw[:2], ser(block), raw[3]])]
    assert "block 2: previous_hash is not the header hash of the block before" in problems
    assert all(p.startswith("block 2:") for p in problems)


def test_flipped_byte_in_a_stored_update_is_found(chain):
    for position in _positions(0, len(chain.updates[2]), 50):
        updates = {**chain.updates, 2: _flip(chain.updates[2], position)}
        problems = verify_chain(chain.raw, updates)
        assert [str(p) for p in problems] == ["block 2: stored config update differs from the block's last_update"]


def test_blocks_out_of_order_or_missing(chain):
    raw = chain.raw
    assert str(verify_chain([raw[0], raw[2], raw[3]])[0]) == "block 1: header number is 2"
    assert verify_chain([raw[1], raw[2]])[0].block == 0
    assert verify_chain([]) == []


@pytest.fixture
def extra_block(chain, orgs, ordering, ord_org):
    """Build block 4 (org4 leaves) on top of the chain, with parts of it overridable to break it."""
    from openbcs.fabric import ChannelSpec

    o = orgs
    remaining = (o[0].app([o[0].anchor()]), o[2].app([o[2].anchor()]))

    def build(signers, *, submitter=None, orderer=None, previous=None, config=None):
        current = config_of(chain.blocks[-1])
        update = compute_update(CHANNEL, current, build_config(ChannelSpec(CHANNEL, ordering, remaining)))
        envelope, _ = config_update_tx(CHANNEL, sign_update(update, signers), submitter or signers[0], NOW)
        new_config = config if config is not None else apply_update(current, update)
        header = previous if previous is not None else chain.blocks[-1].header
        return ser(config_block(4, header, new_config, envelope, orderer or ord_org.orderer, NOW))

    return build


def test_good_extra_block_verifies(chain, orgs, extra_block):
    o = orgs
    block = extra_block([o[3].admin, o[0].admin])
    assert verify_chain([*chain.raw, block]) == []


def test_too_few_admins(chain, orgs, extra_block):
    o = orgs
    block = extra_block([o[3].admin])
    assert [str(p) for p in verify_chain([*chain.raw, block])] == [
        "block 4: config update not authorized: /Channel/Application/Admins not satisfied "
        "(to modify group /Channel/Application)"
    ]


def test_wrong_previous_hash(chain, orgs, extra_block):
    o = orgs
    wrong = BlockHeader()
    wrong.CopyFrom(chain.blocks[-1].header)
    wrong.data_hash = bytes(32)
    block = extra_block([o[3].admin, o[0].admin], previous=wrong)
    assert [str(p) for p in verify_chain([*chain.raw, block])] == [
        "block 4: previous_hash is not the header hash of the block before"
    ]


def test_block_signed_by_a_non_orderer(chain, orgs, extra_block):
    o = orgs
    block = extra_block([o[3].admin, o[0].admin], orderer=o[0].peer)
    reasons = [p.reason for p in verify_chain([*chain.raw, block])]
    assert f"block signature: {o[0].msp_id} is not an orderer organisation" in reasons
    assert "block signatures do not satisfy /Channel/Orderer/BlockValidation" in reasons


def test_submitter_must_be_a_channel_writer(chain, orgs, extra_block):
    o = orgs
    block = extra_block([o[3].admin, o[0].admin], submitter=o[0].peer)
    assert [p.reason for p in verify_chain([*chain.raw, block])] == [
        "last_update creator does not satisfy /Channel/Writers"
    ]


def test_config_must_follow_from_its_update(chain, orgs, extra_block):
    o = orgs
    wrong = config_of(chain.blocks[-1])
    wrong.sequence += 1
    block = extra_block([o[3].admin, o[0].admin], config=wrong)
    assert [p.reason for p in verify_chain([*chain.raw, block])] == [
        "config is not the result of applying its config update to the previous config"
    ]


def test_removed_org_cannot_sign_later(chain, orgs, extra_block):
    o = orgs
    # org2 quit in block 2: its admin's signature no longer counts (nor verifies as a channel identity).
    block = extra_block([o[1].admin, o[3].admin], submitter=o[3].admin)
    reasons = [p.reason for p in verify_chain([*chain.raw, block])]
    assert f"config signature 0: MSP '{o[1].msp_id}' is not in the channel" in reasons
    assert any(r.startswith("config update not authorized: /Channel/Application/Admins") for r in reasons)


def test_tx_id_must_match_nonce_and_creator(chain, orgs, ordering, ord_org):
    from openbcs.fabric import ChannelSpec

    o = orgs
    current = config_of(chain.blocks[-1])
    target = ChannelSpec(CHANNEL, ordering, (o[0].app([o[0].anchor()]), o[2].app([o[2].anchor()])))
    update = compute_update(CHANNEL, current, build_config(target))
    envelope, _ = config_update_tx(CHANNEL, sign_update(update, [o[3].admin, o[0].admin]), o[0].admin, NOW)
    payload = Payload.FromString(envelope.payload)
    header = ChannelHeader.FromString(payload.header.channel_header)
    header.tx_id = "0" * 64
    payload.header.channel_header = ser(header)
    envelope = Envelope(payload=ser(payload), signature=o[0].admin.sign(ser(payload)))
    block = config_block(4, chain.blocks[-1].header, apply_update(current, update), envelope, ord_org.orderer, NOW)
    assert [p.reason for p in verify_chain([*chain.raw, ser(block)])] == [
        "last_update tx_id is not SHA-256(nonce || creator)"
    ]


def test_orderer_changes_need_the_orderer_admin(chain, orgs, ordering, ord_org):
    import dataclasses

    from openbcs.fabric import ChannelSpec, ConfigError

    o = orgs
    current = config_of(chain.blocks[-1])
    apps = (o[0].app([o[0].anchor()]), o[2].app([o[2].anchor()]), o[3].app())
    # Moving the orderer endpoints touches the orderer org's Endpoints (mod_policy Admins of that organisation);
    # application admins cannot sign for it.
    moved = dataclasses.replace(ordering, addresses=("orderer-new.default.svc.cluster.local:7050",))
    target = ChannelSpec(CHANNEL, moved, apps)
    with pytest.raises(ConfigError, match=f"/Channel/Orderer/{ord_org.msp_id}/Admins not satisfied"):
        next_config_block(
            chain.blocks[-1], target, [o[0].admin, o[2].admin, o[3].admin], o[0].admin, ord_org.orderer, NOW
        )
    result = next_config_block(chain.blocks[-1], target, [o[0].admin, ord_org.admin], o[0].admin, ord_org.orderer, NOW)
    assert result is not None
    block, envelope, signers = result
    assert signers == [ord_org.msp_id]
    update = ConfigUpdate.FromString(update_envelope_of(envelope)[2].config_update)
    orderer_org = update.write_set.groups["Orderer"].groups[ord_org.msp_id]
    assert orderer_org.values["Endpoints"].version == 1
    assert verify_chain([*chain.raw, ser(block)]) == []
    assert config_of(block).sequence == current.sequence + 1
