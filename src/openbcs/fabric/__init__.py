"""Hyperledger Fabric channel configuration, as a pure library: specs and ``cryptography`` keys in, Fabric protobufs
and bytes out (``hyperledger-fabric-protos`` messages). No I/O, no database, nothing else from OpenBCS.

Final API (see ``docs/fabric-config.md`` for the Fabric semantics behind each function)::

    # inputs (frozen dataclasses)
    MSPSpec(msp_id, root_certs, tls_root_certs, revocation_list=())        # PEM bytes
    Signer(msp_id, cert_pem, key_pem)  .creator() -> bytes  .sign(message) -> bytes   # low-S DER ECDSA P-256
    AnchorPeer(host, port);  ApplicationOrg(msp, anchor_peers=())
    Consenter(host, port, client_tls_cert, server_tls_cert)
    OrdererSpec(*, org, consenters=(), addresses=(), consensus_type="etcdraft", batch_timeout="2s",
                max_message_count=500, absolute_max_bytes=10 MiB, preferred_max_bytes=2 MiB)
    ChannelSpec(channel_id, orderer, application_orgs)

    build_config(spec: ChannelSpec) -> Config
    compute_update(channel_id, current: Config, target: Config) -> ConfigUpdate       # ConfigError if no change
    compute_update_or_none(channel_id, current, target) -> ConfigUpdate | None
    apply_update(current: Config, update: ConfigUpdate, *, channel_id=None) -> Config  # ConfigError if invalid

    SignedData(data, identity, signature)
    evaluate(config, policy_path, signed_data: Sequence[SignedData]) -> bool
    evaluate_identities(config, policy_path, creators: Sequence[bytes]) -> bool
    authorize_update(current_config, update_envelope: ConfigUpdateEnvelope) -> list[str]  # [] = authorized

    sign_update(update, signers: Sequence[Signer]) -> ConfigUpdateEnvelope
    choose_signers(current, update, available: Sequence[Signer]) -> list[Signer]      # ConfigError if impossible
    config_update_tx(channel_id, envelope, submitter: Signer, timestamp) -> tuple[Envelope, str]  # (tx, tx_id)

    genesis_block(channel_id, config, timestamp) -> Block        # channel_id added: a Config does not carry it
    config_block(number, previous: BlockHeader, config, last_update: Envelope, orderer: Signer, timestamp) -> Block
    block_header_hash(header) -> bytes;  block_data_hash(data) -> bytes
    config_of(block) -> Config;  last_update_of(block) -> Envelope | None
    application_orgs(config) -> list[str];  anchor_peers(config, msp_id) -> list[AnchorPeer]
    signers_of(update_envelope_bytes) -> list[str]               # CONFIG_UPDATE Envelope or ConfigUpdateEnvelope bytes

    verify_chain(blocks: Sequence[bytes], updates: Mapping[int, bytes] | None = None, *, after=None) -> list[Problem]
    next_config_block(previous_block, target_spec, admins, submitter, orderer, timestamp)
        -> tuple[Block, Envelope, list[str]] | None

Timestamps are timezone-aware ``datetime``s; headers keep whole seconds as Fabric's do. Errors: ``ConfigError``.
"""

from __future__ import annotations

from .authorize import authorize_update
from .blocks import block_data_hash, block_header_hash, config_block, genesis_block
from .channel import build_config
from .crypto import Signer
from .errors import ConfigError
from .membership import next_config_block
from .policies import SignedData, evaluate, evaluate_identities
from .read import anchor_peers, application_orgs, config_of, last_update_of, signers_of
from .signing import choose_signers, config_update_tx, sign_update
from .spec import AnchorPeer, ApplicationOrg, ChannelSpec, Consenter, MSPSpec, OrdererSpec
from .update import apply_update, compute_update, compute_update_or_none
from .verify import Problem, verify_chain

__all__ = [
    "AnchorPeer",
    "ApplicationOrg",
    "ChannelSpec",
    "ConfigError",
    "Consenter",
    "MSPSpec",
    "OrdererSpec",
    "Problem",
    "SignedData",
    "Signer",
    "anchor_peers",
    "application_orgs",
    "apply_update",
    "authorize_update",
    "block_data_hash",
    "block_header_hash",
    "build_config",
    "choose_signers",
    "compute_update",
    "compute_update_or_none",
    "config_block",
    "config_of",
    "config_update_tx",
    "evaluate",
    "evaluate_identities",
    "genesis_block",
    "last_update_of",
    "next_config_block",
    "sign_update",
    "signers_of",
    "verify_chain",
]
