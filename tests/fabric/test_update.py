"""compute_update (configtxlator) and apply_update (the orderer's merge)."""

from __future__ import annotations

import pytest
from fabric_protos.common.configtx_pb2 import Config, ConfigUpdate

from openbcs.fabric import ConfigError, apply_update, build_config, compute_update, compute_update_or_none
from openbcs.fabric.configmap import map_config

from .conftest import CHANNEL


def _versions(config: Config) -> dict[str, int]:
    return {key: element.version for key, element in map_config(config.channel_group).items()}


def _changed_versions(before: Config, after: Config) -> dict[str, tuple[int, int]]:
    old, new = _versions(before), _versions(after)
    return {key.strip(): (old.get(key, -1), new[key]) for key in new if old.get(key) != new[key]}


def _roundtrip(update: ConfigUpdate) -> ConfigUpdate:
    return ConfigUpdate.FromString(update.SerializeToString(deterministic=True))


def test_add_org(orgs, spec_of):
    current = build_config(spec_of(orgs[0].app(), orgs[1].app()))
    target = build_config(spec_of(orgs[0].app(), orgs[1].app(), orgs[2].app()))
    update = _roundtrip(compute_update(CHANNEL, current, target))
    assert update.channel_id == CHANNEL
    read_app, write_app = update.read_set.groups["Application"], update.write_set.groups["Application"]
    # The Application group changes membership: written at version 1, siblings listed at their versions.
    assert (read_app.version, write_app.version, write_app.mod_policy) == (0, 1, "Admins")
    assert sorted(read_app.groups) == sorted([orgs[0].msp_id, orgs[1].msp_id])
    assert sorted(write_app.groups) == sorted(o.msp_id for o in orgs[:3])
    assert set(write_app.policies) == {"Readers", "Writers", "Admins", "Endorsement", "LifecycleEndorsement"}
    assert all(p.version == 0 and not p.mod_policy and not p.HasField("policy") for p in write_app.policies.values())
    new = write_app.groups[orgs[2].msp_id]
    assert new.version == 0
    assert new.mod_policy == "Admins"
    assert set(new.values) == {"MSP"}
    assert set(new.policies) == {"Readers", "Writers", "Admins", "Endorsement"}
    # Nothing outside the Application group is written.
    assert list(update.write_set.groups) == ["Application"]
    assert not update.write_set.values
    assert update.write_set.version == 0
    assert not update.write_set.mod_policy

    result = apply_update(current, update, channel_id=CHANNEL)
    assert result.sequence == current.sequence + 1
    expected = Config()
    expected.CopyFrom(target)
    expected.channel_group.groups["Application"].version = 1
    expected.sequence = 1
    assert result == expected
    changed = _changed_versions(current, result)
    assert changed == {"[Group]  /Channel/Application": (0, 1)} | {
        k.strip(): (-1, 0) for k in _versions(result) if orgs[2].msp_id in k
    }


def test_remove_org(orgs, spec_of):
    current = build_config(spec_of(*(o.app() for o in orgs[:3])))
    target = build_config(spec_of(orgs[0].app(), orgs[2].app()))
    update = compute_update(CHANNEL, current, target)
    write_app = update.write_set.groups["Application"]
    assert write_app.version == 1
    assert sorted(write_app.groups) == sorted([orgs[0].msp_id, orgs[2].msp_id])
    # The remaining orgs are only read at their current versions.
    assert all(g.version == 0 and not g.values and not g.policies for g in write_app.groups.values())
    result = apply_update(current, update)
    assert sorted(result.channel_group.groups["Application"].groups) == sorted([orgs[0].msp_id, orgs[2].msp_id])
    assert _changed_versions(current, result) == {"[Group]  /Channel/Application": (0, 1)}


def test_change_anchor_peers(orgs, spec_of):
    base = build_config(spec_of(orgs[0].app([orgs[0].anchor(0)]), orgs[1].app()))
    # Changing an existing value: only the value is written (version + 1), its group is merely read.
    moved = build_config(spec_of(orgs[0].app([orgs[0].anchor(1)]), orgs[1].app()))
    update = compute_update(CHANNEL, base, moved)
    org_write = update.write_set.groups["Application"].groups[orgs[0].msp_id]
    assert update.write_set.groups["Application"].version == 0
    assert (org_write.version, org_write.mod_policy, list(org_write.values)) == (0, "", ["AnchorPeers"])
    assert org_write.values["AnchorPeers"].version == 1
    assert orgs[1].msp_id not in update.write_set.groups["Application"].groups
    result = apply_update(base, update)
    assert _changed_versions(base, result) == {f"[Value]  /Channel/Application/{orgs[0].msp_id}/AnchorPeers": (0, 1)}

    # Adding the first anchor peer adds a value: the org group itself changes (version + 1).
    update = compute_update(
        CHANNEL, base, build_config(spec_of(orgs[0].app([orgs[0].anchor(0)]), orgs[1].app([orgs[1].anchor()])))
    )
    org_write = update.write_set.groups["Application"].groups[orgs[1].msp_id]
    assert (org_write.version, org_write.mod_policy) == (1, "Admins")
    assert org_write.values["AnchorPeers"].version == 0
    assert org_write.values["MSP"].version == 0
    assert not org_write.values["MSP"].value
    assert update.read_set.groups["Application"].groups[orgs[1].msp_id].values["MSP"].version == 0


def test_no_change(orgs, spec_of):
    spec = spec_of(orgs[0].app([orgs[0].anchor()]))
    assert compute_update_or_none(CHANNEL, build_config(spec), build_config(spec)) is None
    with pytest.raises(ConfigError, match="no differences"):
        compute_update(CHANNEL, build_config(spec), build_config(spec))


def test_target_versions_are_ignored(orgs, spec_of):
    current = build_config(spec_of(orgs[0].app(), orgs[1].app()))
    current = apply_update(current, compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app()))))
    current = apply_update(
        current, compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app(), orgs[1].app())))
    )
    assert current.channel_group.groups["Application"].version == 2
    target = build_config(spec_of(orgs[0].app()))  # all versions 0
    update = compute_update(CHANNEL, current, target)
    assert (update.read_set.groups["Application"].version, update.write_set.groups["Application"].version) == (2, 3)
    assert apply_update(current, update).channel_group.groups["Application"].version == 3


def test_stale_read_set_is_refused(orgs, spec_of):
    current = build_config(spec_of(orgs[0].app(), orgs[1].app()))
    update = compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app())))
    newer = apply_update(
        current, compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app([orgs[0].anchor()]), orgs[1].app())))
    )
    newer = apply_update(
        newer, compute_update(CHANNEL, newer, build_config(spec_of(orgs[0].app(), orgs[2].app(), orgs[1].app())))
    )
    with pytest.raises(ConfigError, match=r"read set needs .*/Channel/Application at version 0 but it is at version 1"):
        apply_update(newer, update)


def test_bad_updates_are_refused(orgs, spec_of):
    current = build_config(spec_of(orgs[0].app(), orgs[1].app()))
    update = compute_update(CHANNEL, current, build_config(spec_of(orgs[0].app())))
    with pytest.raises(ConfigError, match="not 'other'"):
        apply_update(current, update, channel_id="other")
    skipping = ConfigUpdate()
    skipping.CopyFrom(update)
    skipping.write_set.groups["Application"].version = 2
    with pytest.raises(ConfigError, match="version 2 but it is at version 0"):
        apply_update(current, skipping)
    empty = ConfigUpdate(channel_id=CHANNEL, read_set=update.read_set, write_set=update.read_set)
    with pytest.raises(ConfigError, match="delta set is empty"):
        apply_update(current, empty)
    unknown = ConfigUpdate()
    unknown.CopyFrom(update)
    unknown.read_set.groups["Nope"].version = 0
    with pytest.raises(ConfigError, match="not in the current config"):
        apply_update(current, unknown)
    no_policy = ConfigUpdate()
    no_policy.CopyFrom(update)
    no_policy.write_set.groups["Application"].mod_policy = ""
    with pytest.raises(ConfigError, match="no mod_policy"):
        apply_update(current, no_policy)
