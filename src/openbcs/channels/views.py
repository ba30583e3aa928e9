"""Read models of channels as the API shows them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openbcs.channels import service
from openbcs.channels.schemas import (
    HISTORY_LIMIT_DEFAULT,
    Channel,
    ConfigBlockView,
    ConfigHistoryResponse,
    ConfigOrg,
    ListBlockchainChannelsResponse,
)
from openbcs.kernel.clock import iso_time
from openbcs.network import lookups


def channels(session: Session, *, project_id: str, blockchain_id: str) -> ListBlockchainChannelsResponse:
    """ListBlockchainChannels: each channel's peers by organisation and the orderers serving it."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    orderers = {
        org.name: [n.name for n in lookups.nodes_of(session, org.id)]
        for org in lookups.orgs_of(session, instance.id, role="orderer")
    }
    return ListBlockchainChannelsResponse(
        channels=[
            Channel(
                name=v.name,
                description=v.description,
                create_time=iso_time(v.created_time),
                consensus=instance.consensus,
                peers=v.peers,
                consensus_nodes=orderers,
            )
            for v in lookups.channel_views(session, blockchain_id=instance.id)
        ]
    )


def config_history(
    session: Session,
    *,
    project_id: str,
    blockchain_id: str,
    channel_name: str,
    limit: int = HISTORY_LIMIT_DEFAULT,
    marker: int | None = None,
) -> ConfigHistoryResponse:
    """The configuration-history extension: a page of blocks (the newest ``limit`` below ``marker``), and whether
    they verify."""
    blocks, problems = service.config_history(
        session,
        project_id=project_id,
        blockchain_id=blockchain_id,
        channel_name=channel_name,
        limit=limit,
        marker=marker,
    )
    return ConfigHistoryResponse(
        channel_name=channel_name,
        verified=not problems,
        blocks=[
            ConfigBlockView(
                number=b.number,
                previous_hash=b.previous_hash,
                hash=b.hash,
                tx_id=b.tx_id,
                config_sequence=b.config_sequence,
                signers=list(b.signers),
                event=b.event,
                orgs=[ConfigOrg(**o) for o in b.orgs],
                cause=b.cause,
                time=iso_time(b.time),
            )
            for b in blocks
        ],
    )
