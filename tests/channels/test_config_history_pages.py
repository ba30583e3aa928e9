"""config-history in pages (OpenBCS extension): ``limit`` (default 100) newest blocks below ``marker``; walking
the markers gives the whole chain; each page verifies on its own, against the block before it; bad paging 400s."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from openbcs.network.models import ChannelOrg, ConfigBlock
from tests.channels.conftest import BLOCK_FIELDS, FourBlocks, tamper
from tests.channels.helpers import block_orgs, check_links
from tests.support.errors import INSTANCE_NOT_FOUND, assert_error
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant


def _page(tenant: Tenant, bid: str, query: str) -> dict[str, Any]:
    response = tenant.call("GET", f"/blockchains/{bid}/channels/trade/config-history?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"channel_name", "blocks", "verified"}
    assert body["channel_name"] == "trade"
    return dict(body)


def _numbers(page: dict[str, Any]) -> list[int]:
    return [b["number"] for b in page["blocks"]]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_walking_the_markers_gives_the_whole_chain(
    tenant: Tenant, four_blocks: FourBlocks, db: Any, limit: int
) -> None:
    bid = four_blocks.blockchain_id
    whole = tenant.history(bid, "trade")
    assert (_numbers(whole), whole["verified"]) == ([0, 1, 2, 3], True)
    check_links(whole)

    pages, query = [], f"limit={limit}"
    while True:
        page = _page(tenant, bid, query)
        assert page["verified"] is True
        assert 1 <= len(page["blocks"]) <= limit
        pages.append(_numbers(page))
        first = page["blocks"][0]["number"]
        if first == 0:
            break
        query = f"limit={limit}&marker={first}"
    # Newest page first; each page oldest first, and together exactly the whole answer's blocks.
    walked = [n for numbers in reversed(pages) for n in numbers]
    assert walked == [0, 1, 2, 3]
    assert pages[0][-1] == 3
    assert len(pages) == -(-4 // limit)
    by_number = {b["number"]: b for b in whole["blocks"]}
    for numbers in pages:
        page_blocks = _page(tenant, bid, f"limit={limit}&marker={numbers[-1] + 1}")["blocks"]
        assert page_blocks == [by_number[n] for n in numbers]
        assert all(set(b) >= BLOCK_FIELDS for b in page_blocks)
    assert len(config_blocks(db, bid, "trade")) == 4


def test_a_marker_past_the_end_is_the_newest_page_and_the_default_is_the_newest_100(
    tenant: Tenant, four_blocks: FourBlocks, db: Any
) -> None:
    bid = four_blocks.blockchain_id
    assert _numbers(_page(tenant, bid, "limit=2&marker=2147483647")) == [2, 3]
    assert _numbers(_page(tenant, bid, "marker=1")) == [0]
    # 101 more rows (copies of block 3 renumbered: they do not verify, but they page like any block).
    stored = config_blocks(db, bid, "trade")[3]
    copies = [{**stored, "id": None, "number": n} for n in range(4, 105)]
    for copy in copies:
        copy.pop("id")
    tamper(db, insert(ConfigBlock).values(copies))
    page = tenant.history(bid, "trade")
    assert _numbers(page) == list(range(5, 105))
    assert page["verified"] is False  # the copies are not chained to one another
    older = _page(tenant, bid, "marker=5")
    assert (_numbers(older), older["verified"]) == ([0, 1, 2, 3, 4], False)  # block 4 follows 3 with 3's bytes
    intact = _page(tenant, bid, "marker=4")
    assert (_numbers(intact), intact["verified"]) == ([0, 1, 2, 3], True)
    assert len(config_blocks(db, bid, "trade")) == 105


def test_each_page_verifies_only_what_it_holds(tenant: Tenant, four_blocks: FourBlocks, db: Any) -> None:
    bid = four_blocks.blockchain_id
    blocks = config_blocks(db, bid, "trade")
    forged = block_orgs(bid, "orgb")
    tamper(db, update(ConfigBlock).where(ConfigBlock.id == blocks[1]["id"]).values(orgs=forged))
    # Block 1's shown organisations are checked on the pages that show it, not where it is only the block before.
    assert _page(tenant, bid, "limit=2")["verified"] is True
    older = _page(tenant, bid, "limit=2&marker=2")
    assert (_numbers(older), older["verified"], older["blocks"][1]["orgs"]) == ([0, 1], False, forged)
    assert tenant.history(bid, "trade")["verified"] is False

    # The channel's organisations are compared with the newest block only.
    tamper(db, delete(ChannelOrg).where(ChannelOrg.channel_id == blocks[0]["channel_id"]))
    assert _page(tenant, bid, "limit=2")["verified"] is False
    assert _page(tenant, bid, "limit=1&marker=3")["verified"] is True


def test_a_page_after_a_missing_block_does_not_verify(tenant: Tenant, four_blocks: FourBlocks, db: Any) -> None:
    bid = four_blocks.blockchain_id
    blocks = config_blocks(db, bid, "trade")
    tamper(db, delete(ConfigBlock).where(ConfigBlock.id == blocks[1]["id"]))
    page = _page(tenant, bid, "limit=1")
    assert (_numbers(page), page["verified"]) == ([3], True)  # block 2 before it is intact
    page = _page(tenant, bid, "limit=1&marker=3")
    assert (_numbers(page), page["verified"]) == ([2], False)  # the block before 2 is now block 0
    assert _numbers(_page(tenant, bid, "limit=1&marker=2")) == [0]
    assert [b["number"] for b in config_blocks(db, bid, "trade")] == [0, 2, 3]


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("limit=0", "limit", "BCS.4006014"),
        ("limit=1001", "limit", "BCS.4006014"),
        ("limit=abc", "limit", "BCS.4006003"),
        ("limit=-1", "limit", "BCS.4006014"),
        ("limit=1.5", "limit", "BCS.4006003"),
        ("limit=", "limit", "BCS.4006003"),
        ("marker=0", "marker", "BCS.4006014"),
        ("marker=-3", "marker", "BCS.4006014"),
        ("marker=x", "marker", "BCS.4006003"),
        ("marker=2147483648", "marker", "BCS.4006014"),
        ("limit=1&limit=2", "limit", "BCS.4006014"),
    ],
)
def test_bad_paging_is_refused_naming_the_field(tenant: Tenant, db: Any, query: str, field: str, code: str) -> None:
    # BCS.4006003: not an integer in decimal digits; BCS.4006014: out of range or given twice.
    bid = tenant.create_instance("chan-bad-page", peer_orgs=[("orga", 1)], channels=[("trade", ["orga"])])
    before = config_blocks(db, bid, "trade")
    response = tenant.call("GET", f"/blockchains/{bid}/channels/trade/config-history?{query}")
    assert_error(response, 400, code, contains=f"Invalid Parameter {field}")
    assert config_blocks(db, bid, "trade") == before


def test_another_tenant_pages_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    bid = tenant.create_instance("chan-page-tenancy", peer_orgs=[("orga", 1)], channels=[("trade", ["orga"])])
    response = other_tenant.call("GET", f"/blockchains/{bid}/channels/trade/config-history?limit=1&marker=1")
    assert_error(response, *INSTANCE_NOT_FOUND)
