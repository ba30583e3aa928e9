"""Seed files: accounts with fixed keys, quotas, instances, channels, invitations and memberships; a second apply
changes nothing; mistakes name their file and line and what was applied before them stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openbcs.admin.seed import SeedError, apply_file, apply_text
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from tests.iam.helpers import signed_request
from tests.support.accounts import TestAccount, issue_token
from tests.support.snapshots import invitations, snapshot
from tests.support.tenants import Tenant

AK, SK = "ACMEACCESSKEY0000001", "AcmeSecretKey" + "0" * 26 + "1"
SEED = f"""\
accounts:
  - name: acme-corp
    password: Acme-Passw0rd
    access_keys: [{{access_key: {AK}, secret_key: {SK}}}]
    quota: 7
    instances:
      - name: bcs-acme
        blockchain_type: union
        peer_orgs: [{{name: organization, node_count: 2}}]
        channels: [{{name: channel, org_names: [organization]}}]
  - name: beta-corp
    password: Beta-Passw0rd
    instances:
      - name: bcs-beta
        invitee_of: {{account: acme-corp, instance: bcs-acme}}
  - name: gamma-corp
    password: Gamma-Passw0rd
  - name: delta-corp
    password: Delta-Passw0rd
invitations:
  - {{inviter: acme-corp, instance: bcs-acme, channel: channel, invitee: beta-corp, status: joined,
     invitee_instance: bcs-beta}}
  - {{inviter: acme-corp, instance: bcs-acme, channel: channel, invitee: gamma-corp}}
  - {{inviter: acme-corp, instance: bcs-acme, channel: channel, invitee: delta-corp, status: reject}}
"""


def _apply(db: Database, key: ServerKey, text: str) -> object:
    return apply_text(db, text, source="seed.yaml", region="cn-north-4", server_key=key)


def _tenant(client: TestClient, db: Database, name: str, password: str) -> Tenant:
    from openbcs.iam import service as iam

    (summary,) = [a for a in db.run_read(iam.list_accounts, region="cn-north-4") if a.domain_name == name]
    created = iam.NewAccount(summary.domain_id, name, summary.project_id or "", "cn-north-4", summary.user_id, name,
                             "", "")  # fmt: skip
    account = TestAccount(created, password)
    return Tenant(client, account, issue_token(client, account))


def test_seed_creates_everything_and_a_second_apply_changes_nothing(
    db: Database, server_key: ServerKey, client: TestClient
) -> None:
    report = _apply(db, server_key, SEED)
    assert report.changed == [  # type: ignore[attr-defined]
        "account acme-corp", "access key ACMEACCESSKEY0000001", "quota of acme-corp", "account beta-corp",
        "account gamma-corp", "account delta-corp", "instance acme-corp/bcs-acme", "instance beta-corp/bcs-beta",
        "invitation acme-corp/channel → beta-corp", "invitation of beta-corp joined",
        "invitation acme-corp/channel → gamma-corp", "invitation acme-corp/channel → delta-corp",
        "invitation of delta-corp reject",
    ]  # fmt: skip
    acme = _tenant(client, db, "acme-corp", "Acme-Passw0rd")
    beta = _tenant(client, db, "beta-corp", "Beta-Passw0rd")
    # The fixed key pair signs requests; it replaced the random first key.
    url, headers = signed_request(
        "http://testserver", "GET", f"/v2/{acme.project_id}/quotas", ak=AK, sk=SK, project_id=acme.project_id
    )
    quotas = client.get(url, headers=headers)
    assert quotas.status_code == 200, quotas.text
    assert quotas.json()["resources"][0]["quota"] == 7
    url, headers = signed_request(
        "http://testserver", "GET", f"/v2/{acme.project_id}/operation/record", ak=AK, sk=SK, project_id=acme.project_id
    )
    assert all(
        r["operation_status"] == "finished" for r in client.get(url, headers=headers).json()["operation_records"]
    )
    (bcs_acme,) = acme.instance_ids()
    assert acme.detail(bcs_acme)["basic_info"]["status"] == "Normal"
    assert [c["name"] for c in acme.channels(bcs_acme)] == ["channel"]
    statuses = sorted((i["invitee_name"], i["status"]) for i in invitations(db))
    assert statuses == [("beta-corp", "joined"), ("delta-corp", "reject"), ("gamma-corp", "waiting")]
    assert [m["channel_name"] for m in beta.members()] == ["channel"]

    before = snapshot(db)
    again = _apply(db, server_key, SEED)
    assert (again.changed, again.unchanged) == ([], 12)  # type: ignore[attr-defined]
    assert snapshot(db) == before


def test_a_channel_added_to_the_file_is_created_on_the_next_apply(
    db: Database, server_key: ServerKey, client: TestClient, tmp_path: Path
) -> None:
    first = "accounts:\n  - name: acme-corp\n    password: Acme-Passw0rd\n    instances:\n      - name: bcs-acme\n"
    _apply(db, server_key, first)
    seed = tmp_path / "seed.yaml"
    seed.write_text(first + "        channels: [{name: second, org_names: [organization]}]\n")
    report = apply_file(db, seed, region="cn-north-4", server_key=server_key)
    assert report.changed == ["channel second"]
    acme = _tenant(client, db, "acme-corp", "Acme-Passw0rd")
    (bcs,) = acme.instance_ids()
    second = acme.channel(bcs, "second")
    assert list(second["peers"]) == ["organization"]
    assert len(second["peers"]["organization"]) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts:\n  - name: acme-corp\n    password: [\n", "seed.yaml:4: not valid YAML"),
        ("accounts:\n  - name: acme-corp\n    password: Acme-Passw0rd\n    quota: -1\n",
         "seed.yaml:4: accounts[0].quota: Input should be greater than or equal to 0"),
        ("accounts:\n  - name: acme-corp\n    password: Acme-Passw0rd\n    instances:\n      - name: bcs-acme\n"
         "        consensus: pbft\n",
         "seed.yaml:6: Invalid Parameter consensus : Input should be 'solo', 'SFLIC' or 'etcdraft'"),
        ("invitations:\n  - {inviter: nobody-here, instance: x, channel: channel, invitee: y}\n",
         "seed.yaml:2: no account 'nobody-here' (in this file or the database)"),
        ("accounts:\n  - name: 1bad\n    password: Acme-Passw0rd\n",
         "seed.yaml:2: an account name has 4 to 64 letters"),
    ],
)  # fmt: skip
def test_mistakes_name_the_line(db: Database, server_key: ServerKey, text: str, message: str) -> None:
    before = snapshot(db)
    with pytest.raises(SeedError) as caught:
        _apply(db, server_key, text)
    assert str(caught.value).startswith(message), str(caught.value)
    assert snapshot(db) == before


def test_what_was_applied_before_a_mistake_stays(db: Database, server_key: ServerKey) -> None:
    text = (
        "accounts:\n  - name: acme-corp\n    password: Acme-Passw0rd\n"
        f"    access_keys: [{{access_key: {AK}, secret_key: {SK}}}]\n"
    )
    _apply(db, server_key, text)
    clash = text.replace(SK, "X" + SK[1:])
    with pytest.raises(SeedError, match=r"seed.yaml:4: access key ACMEACCESSKEY0000001 exists with another secret key"):
        _apply(db, server_key, clash)
    changed = _apply(db, server_key, text.replace("Acme-Passw0rd", "Other-Passw0rd"))
    assert changed.changed == ["password of acme-corp"]  # type: ignore[attr-defined]


def test_admin_api_applies_and_resets(settings, db: Database) -> None:  # type: ignore[no-untyped-def]
    from openbcs.app import create_app

    token = "a" * 32
    with TestClient(create_app(settings.model_copy(update={"admin_token": token}))) as http:
        auth = {"Authorization": f"Bearer {token}"}
        bad = http.post("/openbcs/admin/apply", content=b"accounts: [{name: x}]", headers=auth)
        assert bad.status_code == 400
        assert bad.json()["error_code"] == "BCS.4006014"
        assert "request body:1: accounts[0].password: Field required" in bad.json()["error_msg"]
        good = http.post("/openbcs/admin/apply", content=SEED.encode(), headers=auth)
        assert good.status_code == 200, good.text
        assert len(good.json()["changed"]) == 13
        exported = http.get("/openbcs/admin/state", headers=auth).json()
        before = snapshot(db)
        reset = http.post("/openbcs/admin/reset", headers=auth)
        assert reset.json()["deleted"]["iam_accounts"] == 4
        assert all(not rows for rows in snapshot(db).values())
        assert http.put("/openbcs/admin/state", json=exported, headers=auth).json()["imported"]["iam_accounts"] == 4
        assert snapshot(db) == before
        # Serial ids continue after the imported ones (PostgreSQL sequences are moved): new rows insert fine.
        acme = _tenant(http, db, "acme-corp", "Acme-Passw0rd")
        acme.create_instance("bcs-more")
        assert len(acme.instance_ids()) == 2
