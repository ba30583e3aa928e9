"""Computing a config update (configtxlator, ``internal/configtxlator/update/update.go``) and applying one the way an
orderer does (``common/configtx/validator.go``, ``update.go``). Authorization is separate: ``authorize.py``."""

from __future__ import annotations

from collections.abc import Mapping

from fabric_protos.common.configtx_pb2 import Config, ConfigGroup, ConfigPolicy, ConfigUpdate, ConfigValue

from . import configmap
from .errors import ConfigError

_ChildSets = tuple[dict[str, ConfigGroup], dict[str, ConfigGroup], dict[str, ConfigGroup], bool]


def _leaf_sets(
    original: Mapping[str, ConfigValue | ConfigPolicy],
    updated: Mapping[str, ConfigValue | ConfigPolicy],
    kind: type[ConfigValue] | type[ConfigPolicy],
) -> tuple[dict[str, ConfigValue | ConfigPolicy], dict[str, ConfigValue | ConfigPolicy], bool]:
    """Values or policies: (write set of changed/new members, "same" set of unchanged members, membership changed).

    A member is unchanged when its mod_policy and content are equal; versions always come from ``original`` (a new
    member is version 0), so the versions carried by ``updated`` do not matter."""
    write: dict[str, ConfigValue | ConfigPolicy] = {}
    same: dict[str, ConfigValue | ConfigPolicy] = {}
    members_changed = any(name not in updated for name in original)
    for name, new in updated.items():
        if name not in original:
            members_changed = True
            write[name] = _leaf(kind, 0, new)
            continue
        old = original[name]  # looked up only when present: [] on a protobuf message map inserts
        if old.mod_policy == new.mod_policy and _content(old) == _content(new):
            same[name] = kind(version=old.version)
        else:
            write[name] = _leaf(kind, old.version + 1, new)
    return write, same, members_changed


def _content(leaf: ConfigValue | ConfigPolicy) -> object:
    # Values compare as bytes, policies as messages (proto.Equal on Policy in configtxlator).
    return leaf.value if isinstance(leaf, ConfigValue) else leaf.policy


def _leaf(
    kind: type[ConfigValue] | type[ConfigPolicy], version: int, new: ConfigValue | ConfigPolicy
) -> ConfigValue | ConfigPolicy:
    leaf = kind(version=version, mod_policy=new.mod_policy)
    if isinstance(new, ConfigValue):
        leaf.value = new.value
    else:
        leaf.policy.CopyFrom(new.policy)
    return leaf


def _group_sets(original: ConfigGroup, updated: ConfigGroup) -> _ChildSets:
    """Child groups: (read set, write set, same set, membership changed) like ``computeGroupsMapUpdate``."""
    read: dict[str, ConfigGroup] = {}
    write: dict[str, ConfigGroup] = {}
    same: dict[str, ConfigGroup] = {}
    members_changed = any(name not in updated.groups for name in original.groups)
    for name, new in updated.groups.items():
        if name not in original.groups:
            members_changed = True
            _, written, _ = _group_update(ConfigGroup(), new)
            written.version = 0
            written.mod_policy = new.mod_policy
            write[name] = written
            continue
        group_read, group_write, changed = _group_update(original.groups[name], new)
        if changed:
            read[name], write[name] = group_read, group_write
        else:
            same[name] = group_read
    return read, write, same, members_changed


def _group_update(original: ConfigGroup, updated: ConfigGroup) -> tuple[ConfigGroup, ConfigGroup, bool]:
    """(read set, write set, changed) for one group, like configtxlator's ``computeGroupUpdate``."""
    write_policies, same_policies, policies_changed = _leaf_sets(original.policies, updated.policies, ConfigPolicy)
    write_values, same_values, values_changed = _leaf_sets(original.values, updated.values, ConfigValue)
    read_groups, write_groups, same_groups, groups_changed = _group_sets(original, updated)
    read = ConfigGroup(version=original.version)
    write = ConfigGroup(version=original.version)
    membership_changed = policies_changed or values_changed or groups_changed
    if not membership_changed and original.mod_policy == updated.mod_policy:
        if not (write_policies or write_values or read_groups or write_groups):
            return read, write, False
        # Only members changed: the group itself keeps its version and is merely read.
    else:
        # The group changes: it gets version + 1 and lists every member, unchanged ones at their current versions.
        write.version = original.version + 1
        write.mod_policy = updated.mod_policy
        for target in (read, write):
            _fill(target, same_policies, same_values, same_groups)
    _fill(read, {}, {}, read_groups)
    _fill(write, write_policies, write_values, write_groups)
    return read, write, True


def _fill(
    group: ConfigGroup,
    policies: dict[str, ConfigValue | ConfigPolicy],
    values: dict[str, ConfigValue | ConfigPolicy],
    groups: dict[str, ConfigGroup],
) -> None:
    for name, policy in policies.items():
        group.policies[name].CopyFrom(policy)
    for name, value in values.items():
        group.values[name].CopyFrom(value)
    for name, child in groups.items():
        group.groups[name].CopyFrom(child)


def compute_update(channel_id: str, current: Config, target: Config) -> ConfigUpdate:
    """The ``ConfigUpdate`` turning ``current`` into ``target`` (configtxlator ``compute_update``): an element whose
    contents change is written at its current version + 1, a group whose membership or mod_policy changes is written
    whole (unchanged members at their current versions, in the read set too), new elements are version 0. Versions in
    ``target`` are ignored. Raise ConfigError when there is no difference."""
    update = compute_update_or_none(channel_id, current, target)
    if update is None:
        raise ConfigError("no differences between the current and the target config")
    return update


def compute_update_or_none(channel_id: str, current: Config, target: Config) -> ConfigUpdate | None:
    """Like ``compute_update``, but None when the configs do not differ (Fabric then cuts no block)."""
    if not current.HasField("channel_group") or not target.HasField("channel_group"):
        raise ConfigError("both configs need a channel group")
    read, write, changed = _group_update(current.channel_group, target.channel_group)
    return ConfigUpdate(channel_id=channel_id, read_set=read, write_set=write) if changed else None


def apply_update(current: Config, update: ConfigUpdate, *, channel_id: str | None = None) -> Config:
    """The config an orderer commits for ``update`` (``ProposeConfigUpdate`` minus authorization): read-set versions
    must match, every written element must be at version + 1 (or 0 when new), the write set is merged through Fabric's
    config map, and the sequence goes up by one. ``channel_id``, when given, must be the update's channel.
    Raise ConfigError when an orderer would refuse the update."""
    if channel_id is not None and update.channel_id != channel_id:
        raise ConfigError(f"update is for channel {update.channel_id!r}, not {channel_id!r}")
    if not update.channel_id:
        raise ConfigError("update names no channel")
    current_map = configmap.map_config(current.channel_group)
    delta = configmap.delta_set(current_map, update)
    return Config(sequence=current.sequence + 1, channel_group=configmap.rebuild({**current_map, **delta}))
