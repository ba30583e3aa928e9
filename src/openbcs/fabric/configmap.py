"""Fabric's flat view of a config tree (``common/configtx/configmap.go``, ``update.go``).

Every group, value and policy becomes one entry keyed ``"[Group]  /Channel/Application"``,
``"[Value]  /Channel/Application/Org1MSP/MSP"`` or ``"[Policy] /Channel/Admins"``. The orderer checks read sets,
computes the delta set and rebuilds the proposed config on this map, so we do exactly the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fabric_protos.common.configtx_pb2 import ConfigGroup, ConfigPolicy, ConfigUpdate, ConfigValue

from .errors import ConfigError

GROUP, VALUE, POLICY = "[Group]  ", "[Value]  ", "[Policy] "
ROOT = "Channel"
_CONFIG_ID = re.compile(r"[a-zA-Z0-9.-]+")
_MAX_ID = 249
# Fabric's fix-up for v1.0 channels: once the orderer Capabilities value exists, empty mod_policies become Admins.
_HACKY_FIX_KEY = VALUE + "/Channel/Orderer/Capabilities"


@dataclass(frozen=True)
class Element:
    """One config element: its kind, key, parent group path and message."""

    kind: str
    key: str
    path: tuple[str, ...]  # the path of the group holding it; empty for the root group
    message: ConfigGroup | ConfigValue | ConfigPolicy

    @property
    def version(self) -> int:
        """The element's version."""
        return int(self.message.version)

    @property
    def mod_policy(self) -> str:
        """The element's modification policy (relative to its group, or absolute)."""
        return str(self.message.mod_policy)

    @property
    def fq_path(self) -> str:
        """The element's path without the kind prefix, e.g. ``/Channel/Application/Org1MSP``."""
        return "/" + "/".join((*self.path, self.key))


def validate_config_id(config_id: str) -> None:
    """Refuse a group/value/policy key Fabric refuses (``validateConfigID``)."""
    if not config_id or len(config_id) > _MAX_ID or config_id in (".", "..") or not _CONFIG_ID.fullmatch(config_id):
        raise ConfigError(f"illegal config key {config_id!r}")


def map_config(root: ConfigGroup) -> dict[str, Element]:
    """Flatten a channel group into Fabric's config map."""
    result: dict[str, Element] = {}
    _recurse(result, (), ROOT, root)
    return result


def _recurse(result: dict[str, Element], path: tuple[str, ...], key: str, group: ConfigGroup) -> None:
    _add(result, Element(GROUP, key, path, group))
    here = (*path, key)
    for child_key, child in group.groups.items():
        _recurse(result, here, child_key, child)
    for value_key, value in group.values.items():
        _add(result, Element(VALUE, value_key, here, value))
    for policy_key, policy in group.policies.items():
        _add(result, Element(POLICY, policy_key, here, policy))


def _add(result: dict[str, Element], element: Element) -> None:
    validate_config_id(element.key)
    result[element.kind + element.fq_path] = element


def delta_set(current: dict[str, Element], update: ConfigUpdate) -> dict[str, Element]:
    """The elements an update really changes (``verifyReadSet`` + ``computeDeltaSet`` + the version checks of
    ``verifyDeltaSet``), keyed like the config map. Raise ConfigError where an orderer would refuse the update."""
    read_set = map_config(update.read_set) if update.HasField("read_set") else {}
    for key, element in read_set.items():
        existing = current.get(key)
        if existing is None:
            raise ConfigError(f"read set names {key.strip()} which is not in the current config")
        if existing.version != element.version:
            raise ConfigError(
                f"read set needs {key.strip()} at version {element.version} but it is at version {existing.version}"
            )
    write_set = map_config(update.write_set) if update.HasField("write_set") else {}
    delta = {
        key: element
        for key, element in write_set.items()
        if key not in read_set or read_set[key].version != element.version
    }
    if not delta:
        raise ConfigError("delta set is empty: the update would have no effect")
    for key, element in sorted(delta.items()):
        _check_mod_policy(key, element.mod_policy)
        existing = current.get(key)
        if existing is None:
            if element.version != 0:
                raise ConfigError(f"{key.strip()} is new but the write set gives version {element.version}")
        elif element.version != existing.version + 1:
            raise ConfigError(
                f"write set sets {key.strip()} to version {element.version} but it is at version {existing.version}"
            )
    for key in write_set:
        if key not in delta and key not in current:
            raise ConfigError(f"write set names {key.strip()} which is not in the proposed config")
    return delta


def _check_mod_policy(key: str, mod_policy: str) -> None:
    if not mod_policy:
        raise ConfigError(f"{key.strip()} has no mod_policy")
    for part in mod_policy.removeprefix("/").split("/"):
        try:
            validate_config_id(part)
        except ConfigError as exc:
            raise ConfigError(f"{key.strip()} has an invalid mod_policy {mod_policy!r}") from exc


def rebuild(config_map: dict[str, Element]) -> ConfigGroup:
    """The channel group described by a config map (``configMapToConfig``); raise ConfigError if it is incomplete."""
    return _rebuild("/" + ROOT, config_map, _HACKY_FIX_KEY in config_map)


def _rebuild(path: str, config_map: dict[str, Element], fix_mod_policies: bool) -> ConfigGroup:
    element = config_map.get(GROUP + path)
    if element is None or not isinstance(element.message, ConfigGroup):
        raise ConfigError(f"missing group {path}")
    source = element.message
    group = ConfigGroup(version=source.version, mod_policy=source.mod_policy)
    for key in source.groups:
        group.groups[key].CopyFrom(_rebuild(f"{path}/{key}", config_map, fix_mod_policies))
    for prefix, members, targets in ((VALUE, source.values, group.values), (POLICY, source.policies, group.policies)):
        for key in members:
            child = config_map.get(f"{prefix}{path}/{key}")
            if child is None or child.kind != prefix:
                raise ConfigError(f"missing {prefix.strip()[1:-1].lower()} {path}/{key}")
            targets[key].CopyFrom(child.message)
    if fix_mod_policies:
        for member in (group, *group.values.values(), *group.policies.values()):
            if not member.mod_policy:
                member.mod_policy = "Admins"
    return group
