"""Channel pages: create, add and remove peers and organisations, delete after a confirmation, and the
configuration history with its signers and verification."""

from __future__ import annotations

import re

from tests.console.helpers import flashes, text_of
from tests.support.bodies import CHANNEL, create_body
from tests.support.expected import msp_id, peer_names
from tests.support.snapshots import config_blocks, snapshot

STARTED = re.compile(r"Started operation (BCSSVC\d{2}-\d{2}-\d{19})\.")


def _run(console, tenant, response, form_id):
    assert response.status_code == 303, response.text
    ((kind, form, text),) = flashes(console.follow(response).text)
    assert (kind, form) == ("info", form_id), text
    return tenant.wait(STARTED.search(text).group(1))


def test_a_channel_is_created_filled_emptied_and_deleted(console, tenant, db):
    bcs_id = tenant.create_instance(create_body("bcs-chan", peer_orgs=[("org1", 3), ("org2", 1)]))
    base = f"/console/instances/{bcs_id}"
    _run(
        console,
        tenant,
        console.post(f"{base}/channels", {"channel_name": "trade", "channel_description": "d"}),
        "create-channel",
    )
    assert tenant.channel(bcs_id, "trade")["peers"] == {}
    page = f"{base}/channels/trade"
    _run(console, tenant, console.post(f"{page}/peers", {"org": "org1", "count": "3"}), "add-peers")
    _run(console, tenant, console.post(f"{page}/peers", {"org": "org2", "count": "1"}), "add-peers")
    assert tenant.channel(bcs_id, "trade")["peers"] == {
        "org1": peer_names(bcs_id, "org1", 3),
        "org2": peer_names(bcs_id, "org2", 1),
    }
    _run(console, tenant, console.post(f"{page}/peers/remove", {"org": "org1", "peers": "2"}), "remove-peers")
    assert len(tenant.channel(bcs_id, "trade")["peers"]["org1"]) == 1
    _run(console, tenant, console.post(f"{page}/orgs/remove", {"org": ["org1", "org2"]}), "remove-orgs")
    assert tenant.channel(bcs_id, "trade")["peers"] == {}
    confirm = console.get(f"{page}/delete")
    assert confirm.status_code == 200
    assert "This cannot be undone." in text_of(confirm.text)
    response = console.post(f"{page}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == base
    ((_kind, _form, text),) = flashes(console.follow(response).text)
    tenant.wait(STARTED.search(text).group(1))
    assert [c["name"] for c in tenant.channels(bcs_id)] == [CHANNEL]
    assert console.get(page).status_code == 404


def test_history_shows_blocks_signers_and_verification(console, tenant, db):
    bcs_id = tenant.create_instance(create_body("bcs-hist", peer_orgs=[("org1", 1), ("org2", 1)]))
    history = tenant.history(bcs_id)
    page = console.get(f"/console/instances/{bcs_id}/channels/{CHANNEL}")
    assert page.status_code == 200
    assert history["verified"] is True
    assert "The chain of configuration blocks verifies" in text_of(page.text)
    stored = config_blocks(db, bcs_id)
    assert len(stored) == len(history["blocks"]) >= 1
    for block in stored:
        assert f'title="{block["hash"]}"' in page.text
        for signer in block["signers"]:
            assert signer in page.text
    assert msp_id(bcs_id, "org1") in page.text or "org1" in page.text


def test_refusals_are_the_apis_and_change_nothing(console, tenant, db):
    bcs_id = tenant.create_instance(create_body("bcs-nochan"))
    before = snapshot(db)
    base = f"/console/instances/{bcs_id}"
    api = tenant.create_channels(bcs_id, "Bad_Name")
    response = console.post(f"{base}/channels", {"channel_name": "Bad_Name"})
    expected = f"{api.json()['error_msg']} ({api.json()['error_code']})"
    assert flashes(console.follow(response).text) == [("error", "create-channel", expected)]
    # Only an empty channel can be deleted: the API's refusal, on the channel page.
    api = tenant.delete_channel(bcs_id, CHANNEL)
    response = console.post(f"{base}/channels/{CHANNEL}/delete")
    expected = f"{api.json()['error_msg']} ({api.json()['error_code']})"
    assert flashes(console.follow(response).text) == [("error", "delete-channel", expected)]
    assert snapshot(db) == before
