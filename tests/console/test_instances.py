"""The create form (the API's rules and messages, shown next to their fields), the instance page, adding and removing
peers and organisations, and deleting an instance after a confirmation."""

from __future__ import annotations

import re

import pytest

from openbcs.console.pages import ENV
from openbcs.instances import quotas
from tests.console.forms import form_of
from tests.console.helpers import field_errors, flash_links, flashes, text_of
from tests.support.bodies import PASSWORD, create_body
from tests.support.expected import orderer_names, peer_names
from tests.support.snapshots import snapshot

STARTED = re.compile(r"Started operation (BCSSVC\d{2}-\d{2}-\d{19})\.")


def test_create_form_creates_the_instance_the_api_would(console, tenant):
    page = console.get("/console/instances/new")
    assert page.status_code == 200
    body = create_body("bcs-console", peer_orgs=[("org1", 2), ("org2", 1)])
    response = console.post("/console/instances", form_of(body))
    assert response.status_code == 303
    (bcs_id,) = tenant.instance_ids()
    assert response.headers["location"] == f"/console/instances/{bcs_id}"
    landing = console.follow(response)
    ((kind, form, text),) = flashes(landing.text)
    assert (kind, form) == ("info", "")
    operation_id = re.search(r"operation (BCSSVC01-\d{2}-\d{19})", text).group(1)
    assert tenant.wait(operation_id)["operation_status"] == "finished"
    detail = tenant.detail(bcs_id)
    assert detail["basic_info"]["name"] == "bcs-console"
    assert [(p["name"], p["node_cnt"]) for p in detail["peer_info"]] == [("org1", 2), ("org2", 1)]
    page = console.get(f"/console/instances/{bcs_id}").text
    for name in peer_names(bcs_id, "org1", 2) + peer_names(bcs_id, "org2", 1) + orderer_names(bcs_id):
        assert name in page
    assert f'href="/console/instances/{bcs_id}/channels/channel"' in page
    assert PASSWORD not in page


REFUSED = [
    ("name", {"name": "-abcd"}),
    ("name", {"name": ""}),
    ("version_type", {"version_type": "x"}),
    ("orderer_node_number", {"orderer_node_number": 4}),
    ("consensus", {"consensus": "solo"}),
    ("peer_orgs[0].node_count", {"peer_orgs": [{"name": "org1", "node_count": 9}]}),
    ("peer_orgs[0].name", {"peer_orgs": [{"name": "a", "node_count": 1}]}),
    ("peer_orgs", {"peer_orgs": [{"name": "org1", "node_count": 1}, {"name": "org1", "node_count": 2}]}),
    ("resource_password", {"resource_password": "weakweak"}),
    (
        "cce_cluster_info.cluster_id",
        {"cce_cluster_info": {"cluster_id": "", "cluster_name": "c", "cluster_platform_type": "ARM64"}},
    ),
    ("evs_disk_type", {"evs_disk_type": None}),
    (
        "couchdb_info.user_name",
        {"database_type": "couchdb", "couchdb_info": {"user_name": "", "password": "Passw0rd!x"}},
    ),
    ("sign_algorithm", {"sign_algorithm": "sm2"}),
]


@pytest.mark.parametrize(("field", "overrides"), REFUSED, ids=[f"{f}-{i}" for i, (f, _) in enumerate(REFUSED)])
def test_a_refused_form_shows_the_apis_message_next_to_its_field(field, overrides, console, tenant, db):
    body = create_body("bcs-refused", **overrides)
    before = snapshot(db)
    api = tenant.call("POST", "/blockchains", body)
    assert api.status_code == 400
    response = console.post("/console/instances", form_of(body))
    assert response.status_code == 400
    expected = f"{api.json()['error_msg']} ({api.json()['error_code']})"
    assert field_errors(response.text) == {field: expected}
    assert expected in text_of(response.text)  # in the summary at the top too
    if field != "peer_orgs":  # a group's error stands at its fieldset; an input's marks the input
        assert 'aria-invalid="true"' in response.text
    assert snapshot(db) == before
    # What was typed comes back, passwords excepted.
    assert 'value="bcs-refused"' in response.text or field == "name"
    assert PASSWORD not in response.text


def test_duplicate_name_and_quota_are_the_apis_refusals(console, tenant, db):
    tenant.create_instance(create_body("bcs-taken"))
    before = snapshot(db)
    response = console.post("/console/instances", form_of(create_body("bcs-taken")))
    assert response.status_code == 400
    assert field_errors(response.text) == {
        "name": "Operation failed. A service with the same name already exists. Enter another name and try again. "
        "(BCS.4001018)"
    }
    db.run_write(quotas.set_instance_quota, domain_id=tenant.domain_id, instances=1)
    response = console.post("/console/instances", form_of(create_body("bcs-other")))
    assert response.status_code == 400
    assert field_errors(response.text) == {}  # not a field's fault: the summary says it
    assert "Operation failed. The instance quota is used up. (BCS.4001021)" in text_of(response.text)
    assert snapshot(db) == before


def test_invitee_form_is_prefilled_from_the_invitation(client, make_account, console_of):
    from tests.support.consortia import setup_consortium

    c = setup_consortium(client, make_account, invitee_instance=False)
    invitee = console_of(c.invitee)
    page = invitee.get(f"/console/instances/new?invitee_of={c.inviter_bcs_id}").text
    for name, value in (
        ("invitor_infos.tenant_id", c.inviter.domain_id),
        ("invitor_infos.project_id", c.inviter.project_id),
        ("invitor_infos.blockchain_id", c.inviter_bcs_id),
        ("orderer_node_number", ""),
    ):
        assert re.search(rf'name="{re.escape(name)}" type="\w+"\s+value="{value}"', page), name
    assert 'name="is_invitee" id="f-is_invitee" checked' in page


def _started(console, response) -> str:
    assert response.status_code == 303, response.text
    shown = flashes(console.follow(response).text)
    assert len(shown) == 1, shown
    assert shown[0][0] == "info", shown
    return STARTED.search(shown[0][2]).group(1)


def test_peers_and_organisations_are_added_and_removed(console, tenant):
    bcs_id = tenant.create_instance(create_body("bcs-scale"))
    base = f"/console/instances/{bcs_id}"
    tenant.wait(_started(console, console.post(f"{base}/peers", {"org": "organization", "node_count": "1"})))
    assert len(tenant.nodes(bcs_id)["organization"]["peers"]) == 1
    tenant.wait(_started(console, console.post(f"{base}/peers", {"org": "organization", "node_count": "2"})))
    assert tenant.nodes(bcs_id)["organization"]["peers"].keys() == set(peer_names(bcs_id, "organization", 2))
    tenant.wait(
        _started(console, console.post(f"{base}/orgs", {"name": "second", "node_count": "1", "pvc_name": "pvc-second"}))
    )
    assert sorted(tenant.nodes(bcs_id)) == ["organization", "second"]
    tenant.wait(_started(console, console.post(f"{base}/orgs/delete", {"org": "second", "node_count": "1"})))
    assert sorted(tenant.nodes(bcs_id)) == ["organization"]


def test_a_refused_change_is_shown_next_to_its_form(console, tenant, db):
    bcs_id = tenant.create_instance(create_body("bcs-refuse"))
    before = snapshot(db)
    response = console.post(f"/console/instances/{bcs_id}/peers", {"org": "organization", "node_count": "2"})
    assert response.status_code == 303
    assert flashes(console.follow(response).text) == [
        (
            "error",
            "peers-organization",
            "Invalid Parameter node_orgs[0].node_count : organisation organization already has 2 peer(s) (BCS.4006014)",
        )
    ]
    assert snapshot(db) == before


def test_delete_asks_first_then_deletes(console, tenant):
    bcs_id = tenant.create_instance(create_body("bcs-gone"))
    confirm = console.get(f"/console/instances/{bcs_id}/delete")
    assert confirm.status_code == 200
    assert "This cannot be undone." in text_of(confirm.text)
    assert f'action="/console/instances/{bcs_id}/delete"' in confirm.text
    assert tenant.instance_ids() == [bcs_id]  # asking changed nothing
    response = console.post(f"/console/instances/{bcs_id}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    operation_id = re.search(r"operation (BCSSVC01-\d{2}-\d{19})", flashes(console.follow(response).text)[0][2]).group(
        1
    )
    tenant.wait(operation_id)
    assert tenant.instance_ids() == []
    assert console.get(f"/console/instances/{bcs_id}").status_code == 404


def test_a_started_operation_links_to_its_page(console, tenant):
    bcs_id = tenant.create_instance(create_body("bcs-link"))
    landing = console.follow(
        console.post(f"/console/instances/{bcs_id}/peers", {"org": "organization", "node_count": "1"})
    )
    ((kind, form, text),) = flashes(landing.text)
    operation_id = STARTED.search(text).group(1)
    assert (kind, form) == ("info", "peers-organization")
    assert flash_links(landing.text) == [(operation_id, operation_id)]
    assert f'Started operation <a href="/console/operations/{operation_id}">{operation_id}</a>.' in landing.text
    assert tenant.wait(operation_id)["operation_status"] == "finished"
    assert len(tenant.nodes(bcs_id)["organization"]["peers"]) == 1
    operation = console.get(f"/console/operations/{operation_id}")
    assert operation.status_code == 200
    assert 'data-testid="operation-status"><span class="badge s-finished">finished</span>' in operation.text
    # Creating and deleting an instance link their operations too.
    created = console.post("/console/instances", form_of(create_body("bcs-link-two")))
    ((_, _, text),) = flashes(console.follow(created).text)
    operation_id = re.search(r"operation (BCSSVC01-\d{2}-\d{19})", text).group(1)
    assert flash_links(console.last.text) == [(operation_id, operation_id)]


def test_a_flash_message_and_its_operation_link_are_escaped():
    flash_text = ENV.get_template("macros.html").module.flash_text  # type: ignore[attr-defined]
    hostile = '<script>"x"</script>'
    shown = str(flash_text({"text": f"Started operation {hostile}.", "operation": hostile}))
    assert "<script>" not in shown
    assert shown.startswith('Started operation <a href="/console/operations/')
    href = re.search(r'href="([^"]*)"', shown).group(1)
    assert "<" not in href
    assert ">" not in href
    assert shown.endswith(">&lt;script&gt;&#34;x&#34;&lt;/script&gt;</a>.")
    # An operation the text does not name, or none: the text alone, escaped.
    assert str(flash_text({"text": "Done <b>", "operation": "BCSSVC01-00-1"})) == "Done &lt;b&gt;"
    assert str(flash_text({"text": "Done <b>"})) == "Done &lt;b&gt;"
