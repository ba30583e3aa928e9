"""Block hashing, config block layout, readers and the signing helpers."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common.common_pb2 import (
    Block,
    BlockData,
    BlockHeader,
    BlockMetadataIndex,
    ChannelHeader,
    Envelope,
    HeaderType,
    LastConfig,
    Metadata,
    OrdererBlockMetadata,
    Payload,
    SignatureHeader,
)
from fabric_protos.common.configtx_pb2 import ConfigEnvelope, ConfigUpdate, ConfigUpdateEnvelope
from fabric_protos.msp.identities_pb2 import SerializedIdentity

from openbcs.fabric import (
    ConfigError,
    block_data_hash,
    block_header_hash,
    config_block,
    config_update_tx,
    sign_update,
    signers_of,
)
from openbcs.fabric.blocks import block_header_bytes
from openbcs.fabric.signing import tx_id

from .conftest import CHANNEL, NOW, ser


@pytest.mark.parametrize(
    ("number", "previous", "data", "expected"),
    [
        # encoding/asn1 of struct{*big.Int; []byte; []byte}, as protoutil.BlockHeaderBytes produces it
        (1, b"foo", b"bar", "300d 020101 0403666f6f 0403626172"),
        (0, b"", b"", "3007020100 04000400"),
        (128, b"", b"", "3008 02020080 04000400"),
        (2**64 - 1, b"", b"", "300f 020900ffffffffffffffff 04000400"),
        (5, b"\xaa" * 200, b"", "3081d0 020105 0481c8" + "aa" * 200 + "0400"),
    ],
)
def test_block_header_der(number, previous, data, expected):
    header = BlockHeader(number=number, previous_hash=previous, data_hash=data)
    assert block_header_bytes(header).hex() == expected.replace(" ", "")
    assert block_header_hash(header) == hashlib.sha256(bytes.fromhex(expected.replace(" ", ""))).digest()


def test_block_data_hash_is_flat_sha256():
    data = BlockData(data=[b"\x00\x01\x02", b"abc", b""])
    assert block_data_hash(data) == hashlib.sha256(b"\x00\x01\x02abc").digest()


def test_config_block_layout(chain, ord_org):
    block = Block.FromString(chain.raw[2])
    previous = chain.blocks[1]
    assert block.header.number == 2
    assert block.header.previous_hash == block_header_hash(previous.header)
    assert block.header.data_hash == block_data_hash(block.data)
    envelope = Envelope.FromString(block.data.data[0])
    payload = Payload.FromString(envelope.payload)
    header = ChannelHeader.FromString(payload.header.channel_header)
    signature_header = SignatureHeader.FromString(payload.header.signature_header)
    assert (header.type, header.channel_id, header.version, header.epoch, header.tx_id) == (
        HeaderType.CONFIG,
        CHANNEL,
        0,
        0,
        "",
    )
    creator = SerializedIdentity.FromString(signature_header.creator)
    assert (creator.mspid, creator.id_bytes) == (ord_org.msp_id, ord_org.orderer.cert_pem)
    orderer_key = x509.load_pem_x509_certificate(ord_org.orderer.cert_pem).public_key()
    assert isinstance(orderer_key, ec.EllipticCurvePublicKey)
    orderer_key.verify(envelope.signature, envelope.payload, ec.ECDSA(hashes.SHA256()))
    config_envelope = ConfigEnvelope.FromString(payload.data)
    assert config_envelope.config.sequence == 2
    assert ser(config_envelope.last_update) == chain.updates[2]

    metadata = block.metadata.metadata
    assert len(metadata) == 5
    assert [metadata[i] for i in (BlockMetadataIndex.TRANSACTIONS_FILTER, BlockMetadataIndex.ORDERER)] == [b"", b""]
    assert LastConfig.FromString(Metadata.FromString(metadata[BlockMetadataIndex.LAST_CONFIG]).value).index == 2
    signatures = Metadata.FromString(metadata[BlockMetadataIndex.SIGNATURES])
    assert OrdererBlockMetadata.FromString(signatures.value).last_config.index == 2
    (signature,) = signatures.signatures
    assert SerializedIdentity.FromString(SignatureHeader.FromString(signature.signature_header).creator).mspid == (
        ord_org.msp_id
    )
    signed = signatures.value + signature.signature_header + block_header_bytes(block.header)
    orderer_key.verify(signature.signature, signed, ec.ECDSA(hashes.SHA256()))


def test_config_block_needs_the_right_predecessor(chain, ord_org):
    last_update = Envelope.FromString(chain.updates[1])
    with pytest.raises(ConfigError, match="cannot follow"):
        config_block(3, chain.blocks[0].header, chain.blocks[1].data, last_update, ord_org.orderer, NOW)


def test_signing_helpers(orgs):
    update = ConfigUpdate(channel_id=CHANNEL)
    envelope = sign_update(update, [orgs[0].admin, orgs[1].admin])
    assert envelope.config_update == ser(update)
    nonces = set()
    for signature, signer in zip(envelope.signatures, [orgs[0].admin, orgs[1].admin], strict=True):
        header = SignatureHeader.FromString(signature.signature_header)
        assert header.creator == signer.creator()
        assert len(header.nonce) == 24
        nonces.add(header.nonce)
        key = x509.load_pem_x509_certificate(signer.cert_pem).public_key()
        key.verify(signature.signature, signature.signature_header + envelope.config_update, ec.ECDSA(hashes.SHA256()))
    assert len(nonces) == 2

    tx, txid = config_update_tx(CHANNEL, envelope, orgs[2].client, NOW)
    payload = Payload.FromString(tx.payload)
    header = ChannelHeader.FromString(payload.header.channel_header)
    signature_header = SignatureHeader.FromString(payload.header.signature_header)
    assert (header.type, header.channel_id, header.tx_id, header.epoch) == (HeaderType.CONFIG_UPDATE, CHANNEL, txid, 0)
    assert txid == hashlib.sha256(signature_header.nonce + orgs[2].client.creator()).hexdigest()
    assert txid == tx_id(signature_header.nonce, signature_header.creator)
    assert header.timestamp.seconds == int(NOW.timestamp())
    assert ConfigUpdateEnvelope.FromString(payload.data) == envelope
    assert signers_of(ser(tx)) == [orgs[0].msp_id, orgs[1].msp_id]
    assert signers_of(ser(envelope)) == [orgs[0].msp_id, orgs[1].msp_id]
    creator = SerializedIdentity.FromString(orgs[2].client.creator())
    assert (creator.mspid, creator.id_bytes) == (orgs[2].msp_id, orgs[2].client.cert_pem)


def test_signers_of_refuses_garbage():
    with pytest.raises(ConfigError):
        signers_of(b"\xff\xff\xff")
