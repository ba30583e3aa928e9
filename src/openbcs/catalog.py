"""The one list of what this server runs: every operation kind and every reaction to a network signal. The app (and
anything else that runs operations) builds its registry here, so a kind is never missing because some module
happened not to be imported."""

from __future__ import annotations

from openbcs.channels import kinds as channel_kinds
from openbcs.consortium import kinds as consortium_kinds
from openbcs.consortium import reactions
from openbcs.engine.diagnostic import DIAGNOSTIC
from openbcs.engine.kinds import Registry
from openbcs.governance import custody, gate
from openbcs.instances import kinds as instance_kinds
from openbcs.network.signals import ChannelRemoving, InstanceRemoving


def registry(*, diagnostic: bool = False, signature_ttl_hours: int = 72) -> Registry:
    """Every kind and reaction; the engine's diagnostic kind only when asked (its own tests). Channel changes pass
    the governance domain's signature gate, whose requests expire after ``signature_ttl_hours``."""
    built = Registry([*instance_kinds.KINDS, *channel_kinds.KINDS, *consortium_kinds.KINDS, *custody.KINDS])
    built.provide(gate.gate(signature_ttl_hours))
    if diagnostic:
        built.add(DIAGNOSTIC)
    built.react(InstanceRemoving, reactions.instance_removing)
    built.react(ChannelRemoving, reactions.channel_removing)
    return built
