"""``next_config_block``: one call from "the channel should now look like this spec" to the next signed config block."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from fabric_protos.common.common_pb2 import Block, Envelope

from .blocks import config_block
from .channel import build_config
from .crypto import Signer
from .errors import ConfigError
from .read import config_envelope_of
from .signing import choose_signers, config_update_tx, sign_update
from .spec import ChannelSpec
from .update import apply_update, compute_update_or_none


def next_config_block(
    previous_block: Block,
    target_spec: ChannelSpec,
    admins: Sequence[Signer],
    submitter: Signer,
    orderer: Signer,
    when: dt.datetime,
) -> tuple[Block, Envelope, list[str]] | None:
    """The config block following ``previous_block`` (the channel's latest config block) that makes the channel match
    ``target_spec``, the CONFIG_UPDATE envelope it carries, and the MSP ids that signed the update; None when the
    spec changes nothing in the config (e.g. a new non-anchor peer: Fabric cuts no block then).

    ``admins`` are the admin identities that may sign, acting organisation first (``choose_signers``); ``submitter``
    sends the transaction (it must satisfy /Channel/Writers); ``orderer`` signs the block. Any difference — including
    orderer-group details — is handled, provided ``admins`` can satisfy the mod_policies involved; otherwise
    ConfigError."""
    channel_header, config_envelope = config_envelope_of(previous_block)
    channel_id = channel_header.channel_id
    if target_spec.channel_id != channel_id:
        raise ConfigError(f"spec is for channel {target_spec.channel_id!r}, the block for {channel_id!r}")
    current = config_envelope.config
    update = compute_update_or_none(channel_id, current, build_config(target_spec))
    if update is None:
        return None
    signers = choose_signers(current, update, admins)
    transaction, _ = config_update_tx(channel_id, sign_update(update, signers), submitter, when)
    new_config = apply_update(current, update, channel_id=channel_id)
    block = config_block(
        previous_block.header.number + 1, previous_block.header, new_config, transaction, orderer, when
    )
    return block, transaction, [signer.msp_id for signer in signers]
