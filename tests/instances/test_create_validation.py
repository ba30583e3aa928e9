"""Every CreateNewBlockchain rule: status, code and message, and nothing stored by a refused call."""

from __future__ import annotations

import re
from typing import Any

import pytest

from openbcs.engine.models import Operation
from openbcs.network.models import Instance
from tests.support.bodies import CLUSTER, create_body, override
from tests.support.errors import assert_error
from tests.support.snapshots import row_count, snapshot

NAME_PATTERN = "4-24 characters of letters, digits, Chinese characters and '-', not starting with '-'"
PASSWORD_RULE = (
    "Invalid Parameter resource_password : "
    "8 to 32 characters with at least three of: lower case, upper case, digits, specials"
)
DUPLICATE_NAME = "Operation failed. A service with the same name already exists. Enter another name and try again."
CREATE_INFO = {
    "node_num": 1,
    "node_flavor": "c6.xlarge.2",
    "cce_flavor": "cce.s1.small",
    "init_node_pwd": "NodePassw0rd",
    "az": "cn-north-4a",
    "cluster_platform_type": "VirtualMachine",
}


def _nothing_stored(db) -> None:
    """No instance, organisation, node, channel, operation, lock, certificate or event: every model table empty."""
    assert {table: rows for table, rows in snapshot(db).items() if rows} == {}


REFUSED = [
    # name: 4-24 letters, digits, Chinese, '-', not starting with '-'
    ("name-too-short", {"name": "abc"}, "BCS.4006014", f"Invalid Parameter name : {NAME_PATTERN}"),
    ("name-leading-dash", {"name": "-abcd"}, "BCS.4006014", f"Invalid Parameter name : {NAME_PATTERN}"),
    ("name-bad-chars", {"name": "ab_cd"}, "BCS.4006014", f"Invalid Parameter name : {NAME_PATTERN}"),
    ("name-space", {"name": "ab cd"}, "BCS.4006014", f"Invalid Parameter name : {NAME_PATTERN}"),
    (
        "name-25",
        {"name": "a" * 25},
        "BCS.4006014",
        "Invalid Parameter name : String should have at most 24 characters",
    ),
    ("name-empty", {"name": ""}, "BCS.4006009", "one of parameters is nil: name"),
    ("name-missing", {"name": None}, "BCS.4006009", "one of parameters is nil: name"),
    # enums
    ("version-type", {"version_type": 1}, "BCS.4006014", "Invalid Parameter version_type : Input should be 2, 3 or 4"),
    (
        "blockchain-type",
        {"blockchain_type": "public"},
        "BCS.4006014",
        "Invalid Parameter blockchain_type : Input should be 'private' or 'union'",
    ),
    (
        "consensus",
        {"consensus": "kafka"},
        "BCS.4006014",
        "Invalid Parameter consensus : Input should be 'solo', 'SFLIC' or 'etcdraft'",
    ),
    (
        "consensus-solo-on-2.2",
        {"consensus": "solo"},
        "BCS.4006014",
        "Invalid Parameter consensus : solo is not available with Fabric 2.2 (etcdraft, SFLIC)",
    ),
    (
        "sign-algorithm",
        {"sign_algorithm": "RSA"},
        "BCS.4006014",
        "Invalid Parameter sign_algorithm : Input should be 'ECDSA' or 'sm2'",
    ),
    (
        "sign-algorithm-sm2",
        {"sign_algorithm": "sm2"},
        "BCS.4006014",
        "Invalid Parameter sign_algorithm : sm2 is not supported by OpenBCS: no maintained library issues SM2 X.509 "
        "certificates",
    ),
    (
        "volume-type",
        {"volume_type": "obs"},
        "BCS.4006014",
        "Invalid Parameter volume_type : Input should be 'evs', 'nfs' or 'efs'",
    ),
    (
        "evs-disk-type",
        {"evs_disk_type": "HDD"},
        "BCS.4006014",
        "Invalid Parameter evs_disk_type : Input should be 'SATA', 'SAS' or 'SSD'",
    ),
    (
        "database-type",
        {"database_type": "mysql"},
        "BCS.4006014",
        "Invalid Parameter database_type : Input should be 'goleveldb' or 'couchdb'",
    ),
    (
        "cluster-type-unknown",
        {"cluster_type": "ecs"},
        "BCS.4006014",
        "Invalid Parameter cluster_type : Input should be 'cce' or 'ief'",
    ),
    (
        "cluster-type-ief",
        {"cluster_type": "ief"},
        "BCS.4006014",
        "Invalid Parameter cluster_type : IEF edge clusters are not modelled by OpenBCS, use cce",
    ),
    (
        "ief-fields-on-cce",
        {"ief_deploy_mode": 0},
        "BCS.4006014",
        "Invalid Parameter cluster_type : IEF edge clusters are not modelled by OpenBCS, use cce",
    ),
    (
        "fabric-1.4",
        {"fabric_version": "1.4"},
        "BCS.4006014",
        "Invalid Parameter fabric_version : inviters and private chains may only use Fabric 2.2",
    ),
    (
        "fabric-unknown",
        {"fabric_version": "2.0"},
        "BCS.4006014",
        "Invalid Parameter fabric_version : Input should be '1.4' or '2.2'",
    ),
    # conditional requirements
    ("evs-without-disk-type", {"evs_disk_type": None}, "BCS.4006009", "one of parameters is nil: evs_disk_type"),
    (
        "new-cluster-without-create-info",
        {"create_new_cluster": True, "cce_cluster_info": None},
        "BCS.4006009",
        "one of parameters is nil: cce_create_info",
    ),
    (
        "existing-cluster-without-cluster-info",
        {"cce_cluster_info": None, "cce_create_info": CREATE_INFO},
        "BCS.4006009",
        "one of parameters is nil: cce_cluster_info",
    ),
    (
        "couchdb-without-info",
        {"database_type": "couchdb"},
        "BCS.4006009",
        "one of parameters is nil: couchdb_info",
    ),
    (
        "cluster-info-incomplete",
        {"cce_cluster_info": {"cluster_id": "x", "cluster_name": "y"}},
        "BCS.4006009",
        "one of parameters is nil: cce_cluster_info.cluster_platform_type",
    ),
    (
        "orderers-missing",
        {"orderer_node_number": None},
        "BCS.4006009",
        "one of parameters is nil: orderer_node_number",
    ),
    (
        "orderers-4-for-etcdraft",
        {"orderer_node_number": 4},
        "BCS.4006014",
        "Invalid Parameter orderer_node_number : 3 for etcdraft consensus on Fabric 2.2",
    ),
    (
        "orderers-default-consensus-is-etcdraft",
        {"consensus": None, "orderer_node_number": 4},
        "BCS.4006014",
        "Invalid Parameter orderer_node_number : 3 for etcdraft consensus on Fabric 2.2",
    ),
    (
        "orderers-3-for-sflic",
        {"consensus": "SFLIC", "orderer_node_number": 3},
        "BCS.4006014",
        "Invalid Parameter orderer_node_number : 4 for SFLIC consensus on Fabric 2.2",
    ),
    # disk sizes
    (
        "disk-99-professional",
        {"version_type": 4, "org_disk_size": 99},
        "BCS.4006014",
        "Invalid Parameter org_disk_size : at least 100 GB for version_type 4",
    ),
    (
        "disk-499-enterprise",
        {"version_type": 2, "org_disk_size": 499},
        "BCS.4006014",
        "Invalid Parameter org_disk_size : at least 500 GB for version_type 2",
    ),
    (
        "disk-100-platinum",
        {"version_type": 3, "org_disk_size": 100},
        "BCS.4006014",
        "Invalid Parameter org_disk_size : at least 500 GB for version_type 3",
    ),
    # resource password
    ("password-7", {"resource_password": "Abcde1!"}, "BCS.4006014", PASSWORD_RULE),
    ("password-two-kinds", {"resource_password": "abcdefgh12"}, "BCS.4006014", PASSWORD_RULE),
    ("password-one-kind", {"resource_password": "abcdefghijkl"}, "BCS.4006014", PASSWORD_RULE),
    (
        "password-33",
        {"resource_password": "Aa1!" * 8 + "x"},
        "BCS.4006014",
        "Invalid Parameter resource_password : String should have at most 32 characters",
    ),
    ("password-empty", {"resource_password": ""}, "BCS.4006009", "one of parameters is nil: resource_password"),
    # organisations
    (
        "orgs-duplicate",
        {"peer_orgs": [{"name": "org-one", "node_count": 1}, {"name": "org-one", "node_count": 2}]},
        "BCS.4006014",
        "Invalid Parameter peer_orgs : organisation names must be unique",
    ),
    (
        "orgs-six-peers",
        {"peer_orgs": [{"name": "org-one", "node_count": 6}]},
        "BCS.4006014",
        "Invalid Parameter peer_orgs[0].node_count : Input should be less than or equal to 5",
    ),
    (
        "orgs-zero-peers",
        {"peer_orgs": [{"name": "org-one", "node_count": 0}]},
        "BCS.4006014",
        "Invalid Parameter peer_orgs[0].node_count : Input should be greater than or equal to 1",
    ),
    (
        "orgs-empty-list",
        {"peer_orgs": []},
        "BCS.4006014",
        "Invalid Parameter peer_orgs : at least one organisation, or leave it out for the default one",
    ),
    (
        "orgs-reserved-orderer",
        {"peer_orgs": [{"name": "orderer", "node_count": 1}]},
        "BCS.4006014",
        "Invalid Parameter peer_orgs : orderer is the orderer organisation's name",
    ),
    (
        "orgs-eleven",
        {"peer_orgs": [{"name": f"org-{n:02d}", "node_count": 1} for n in range(11)], "channels": []},
        "BCS.4006014",
        "Invalid Parameter peer_orgs : List should have at most 10 items after validation, not 11",
    ),
    (
        "orgs-bad-name",
        {"peer_orgs": [{"name": "-org", "node_count": 1}]},
        "BCS.4006014",
        f"Invalid Parameter peer_orgs[0].name : {NAME_PATTERN}",
    ),
    # channels
    (
        "channel-unknown-org",
        {"channels": [{"name": "mychannel", "org_names": ["nobody"]}]},
        "BCS.4001051",
        "Input org nobody is not exist",
    ),
    (
        "channel-default-org-gone-with-explicit-orgs",
        {
            "peer_orgs": [{"name": "org-one", "node_count": 1}],
            "channels": [{"name": "mychannel", "org_names": ["organization"]}],
        },
        "BCS.4001051",
        "Input org organization is not exist",
    ),
    (
        "channel-orderer-org",
        {"channels": [{"name": "mychannel", "org_names": ["orderer"]}]},
        "BCS.4001051",
        "Input org orderer is not exist",
    ),
    (
        "channel-bad-name",
        {"channels": [{"name": "My_Channel", "org_names": ["organization"]}]},
        "BCS.4006012",
        "Invalid channel name. ('My_Channel': 4-24 characters of a-z and 0-9, starting with a letter)",
    ),
    (
        "channel-name-starts-with-digit",
        {"channels": [{"name": "1channel", "org_names": ["organization"]}]},
        "BCS.4006012",
        "Invalid channel name. ('1channel': 4-24 characters of a-z and 0-9, starting with a letter)",
    ),
    (
        "channel-duplicate",
        {
            "channels": [
                {"name": "mychannel", "org_names": ["organization"]},
                {"name": "mychannel", "org_names": ["organization"]},
            ]
        },
        "BCS.4006014",
        "Invalid Parameter channels : channel names must be unique",
    ),
    (
        "channel-org-twice",
        {"channels": [{"name": "mychannel", "org_names": ["organization", "organization"]}]},
        "BCS.4006014",
        "Invalid Parameter channels[0].org_names : each organisation at most once",
    ),
    (
        "channel-no-orgs",
        {"channels": [{"name": "mychannel", "org_names": []}]},
        "BCS.4006014",
        "Invalid Parameter channels[0].org_names : List should have at least 1 item after validation, not 0",
    ),
    # inviter fields on a non-invitee
    (
        "invitor-infos-without-is-invitee",
        {"invitor_infos": {"tenant_id": "t", "project_id": "p", "blockchain_id": "b"}},
        "BCS.4006014",
        "Invalid Parameter invitor_infos : only for an invitee instance (is_invitee=true)",
    ),
    # unknown fields and wrong JSON types
    ("unknown-field", {"colour": "red"}, "BCS.4006014", "Invalid Parameter colour : unknown field"),
    (
        "unknown-nested-field",
        {"cce_cluster_info": {**CLUSTER, "zone": "a"}},
        "BCS.4006014",
        "Invalid Parameter cce_cluster_info.zone : unknown field",
    ),
    ("name-number", {"name": 1234}, "BCS.4006003", "Invalid Parameter name : expected a string"),
    (
        "disk-string",
        {"org_disk_size": "100"},
        "BCS.4006003",
        "Invalid Parameter org_disk_size : expected an integer",
    ),
    (
        "new-cluster-string",
        {"create_new_cluster": "false"},
        "BCS.4006003",
        "Invalid Parameter create_new_cluster : expected a boolean",
    ),
    (
        "orgs-object",
        {"peer_orgs": {"name": "org-one"}},
        "BCS.4006003",
        "Invalid Parameter peer_orgs : expected an array",
    ),
    (
        "cluster-info-array",
        {"cce_cluster_info": []},
        "BCS.4006003",
        "Invalid Parameter cce_cluster_info : expected an object",
    ),
    (
        "node-count-float",
        {"peer_orgs": [{"name": "org-one", "node_count": 1.5}]},
        "BCS.4006003",
        "Invalid Parameter peer_orgs[0].node_count : expected an integer",
    ),
]


@pytest.mark.parametrize(("overrides", "code", "message"), [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_refused_creation_stores_nothing(tenant, db, overrides: dict[str, Any], code: str, message: str):
    # Each override replaces a top-level field as given (no conversion of organisations or channels).
    response = tenant.call("POST", "/blockchains", override(create_body("bcs-refused"), overrides))
    assert_error(response, 400, code, message)
    _nothing_stored(db)
    assert tenant.instance_ids() == []


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"[]", "BCS.4006003", "Invalid Parameter request body : expected an object"),
        (b"", "BCS.4006009", "one of parameters is nil: request body"),
        (b'{"name": ', "BCS.4006003", "Invalid Parameter request body : not valid JSON"),
    ],
    ids=["array", "empty", "truncated"],
)
def test_a_malformed_body_stores_nothing(tenant, db, content: bytes, code: str, message: str):
    response = tenant.call("POST", "/blockchains", raw=content)
    # A parser's detail may follow the message in parentheses.
    assert_error(response, 400, code, matches=rf"^{re.escape(message)}( \(.*\))?$")
    _nothing_stored(db)


@pytest.mark.parametrize("name", ["abcd", "a" * 24, "a-b-", "9abc", "区块链网"])
def test_names_at_the_boundaries_are_accepted(tenant, db, name: str):
    bid = tenant.create_instance(name)
    assert tenant.instance_ids() == [bid]
    assert tenant.detail(bid)["basic_info"]["name"] == name
    assert row_count(db, Instance) == 1


def test_three_chinese_characters_are_too_short(tenant, db):
    response = tenant.call("POST", "/blockchains", create_body("区块链"))
    assert_error(response, 400, "BCS.4006014", f"Invalid Parameter name : {NAME_PATTERN}")
    _nothing_stored(db)


@pytest.mark.parametrize(
    "overrides",
    [
        {"version_type": 4, "org_disk_size": 100},
        {"version_type": 2, "org_disk_size": 500},
        {"version_type": 3, "org_disk_size": 500},
        {"resource_password": "abcdEF12"},  # lower, upper, digits
        {"resource_password": "abcd!234"},  # lower, specials, digits
        {"resource_password": "Aa1!" * 8},  # 32 characters
        {"volume_type": "efs", "evs_disk_type": None},
        {"peer_orgs": [{"name": "org-one", "node_count": 5}]},
    ],
    ids=["disk-100-v4", "disk-500-v2", "disk-500-v3", "pw-3-kinds", "pw-specials", "pw-32", "efs", "five-peers"],
)
def test_values_at_the_boundaries_are_accepted(tenant, db, overrides: dict[str, Any]):
    bid = tenant.create_instance(**overrides)
    assert tenant.instance_ids() == [bid]
    assert row_count(db, Instance) == 1


def test_a_name_taken_in_the_project_is_refused_but_free_in_another(tenant, other_tenant, db):
    first = tenant.create_instance("bcs-same")
    before = snapshot(db)
    assert_error(tenant.call("POST", "/blockchains", create_body("bcs-same")), 400, "BCS.4001018", DUPLICATE_NAME)
    assert tenant.instance_ids() == [first]
    assert snapshot(db) == before
    assert row_count(db, Operation) == 1
    # Names are per project: another tenant may use it.
    second = other_tenant.create_instance("bcs-same")
    assert other_tenant.instance_ids() == [second]
