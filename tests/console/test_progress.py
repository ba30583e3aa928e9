"""Live progress: while an operation runs, the overview, the instance page and the operation page show its steps and
mark the section that refreshes itself (console.js; a meta refresh without JavaScript); when it ends they stop."""

from __future__ import annotations

import re

from tests.console.forms import form_of
from tests.console.helpers import ConsoleUser, flashes, text_of
from tests.support.bodies import create_body
from tests.support.operations import drive_operations, step_operation
from tests.support.tenants import new_tenant

RUNNING = re.compile(r'<section id="progress"[^>]*data-running="(true|false)"')


def test_running_operations_show_their_progress_until_they_end(frozen_client, make_account, db):
    tenant = new_tenant(frozen_client, make_account, drive=db)
    console = ConsoleUser.of(frozen_client, tenant.account)
    created = console.post("/console/instances", form_of(create_body("bcs-slow")))
    instance_url = created.headers["location"]
    operation_id = re.search(r"operation (BCSSVC01-\d{2}-\d{19})", flashes(console.follow(created).text)[0][2]).group(1)
    record = tenant.record(operation_id)
    steps = list(record["operation_process"])
    assert record["operation_status"] == "waiting"

    overview = console.get("/console/").text
    assert RUNNING.search(overview).group(1) == "true"
    assert f"0/{len(steps)} steps" in text_of(overview)
    page = console.get(instance_url).text
    assert RUNNING.search(page).group(1) == "true"
    assert 'data-reload="true"' in page  # the whole page comes back when the operation ends
    for step in steps:
        assert step in page
    operation_page = console.get(f"/console/operations/{operation_id}").text
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in operation_page
    assert RUNNING.search(operation_page).group(1) == "true"

    step_operation(db, operation_id, 2)  # started, first sub-step done, second running
    record = tenant.record(operation_id)
    first = record["operation_process"][steps[0]]
    assert record["operation_status"] == "processing"
    operation_page = console.get(f"/console/operations/{operation_id}").text
    assert '<span class="badge s-processing">processing</span>' in operation_page
    name, sub_step = next(iter(first["sub_steps"].items()))
    assert f'{name} <span class="badge s-{sub_step["status"]}">{sub_step["status"]}</span>' in operation_page

    drive_operations(db, operation_id=operation_id)
    assert tenant.record(operation_id)["operation_status"] == "finished"
    for url in ("/console/", instance_url, f"/console/operations/{operation_id}"):
        page = console.get(url).text
        assert RUNNING.search(page).group(1) == "false", url
    assert "noscript" not in console.get(f"/console/operations/{operation_id}").text


BADGES = re.compile(r'<span class="badge s-[\w-]+">([^<]*)</span>')


def test_an_instance_being_created_shows_one_state(frozen_client, make_account, db):
    tenant = new_tenant(frozen_client, make_account, drive=db)
    console = ConsoleUser.of(frozen_client, tenant.account)
    created = console.post("/console/instances", form_of(create_body("bcs-one-state")))
    instance_url = created.headers["location"]
    bcs_id = instance_url.rsplit("/", 1)[1]
    operation_id = re.search(r"operation (BCSSVC01-\d{2}-\d{19})", flashes(console.follow(created).text)[0][2]).group(1)
    basic = tenant.detail(bcs_id)["basic_info"]
    assert (basic["status"], basic["process_status"]) == ("Normal", "IsCreating")  # the API says both

    def shown() -> tuple[list[str], list[str]]:
        """The badges of the instance page's heading and of the instance's row on the overview."""
        heading = re.search(r"<h1>.*?</h1>", console.get(instance_url).text, re.S).group(0)
        overview = console.get("/console/").text
        row = re.search(rf'<tr><td><a href="/console/instances/{bcs_id}">.*?</tr>', overview, re.S).group(0)
        return BADGES.findall(heading), BADGES.findall(row)

    assert shown() == (["IsCreating"], ["IsCreating"])
    drive_operations(db, operation_id=operation_id)
    basic = tenant.detail(bcs_id)["basic_info"]
    assert (basic["status"], basic["process_status"]) == ("Normal", "")
    assert shown() == (["Normal"], ["Normal"])
