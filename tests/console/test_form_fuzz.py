"""The console's forms and pages under hostile input: every form post with its fields replaced, dropped or joined by
others (NUL bytes, huge numbers, any Unicode), every page with hostile path segments. The console answers a page, a
redirect or a 4xx — never a 5xx — and the page a redirect leads to renders.

The API's routes are fuzzed from their schemas in ``tests/fuzz``; the console parses HTML forms, so it is fuzzed here
from the forms themselves (``_posts`` names every form post and a field set each one accepts)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from openbcs.app import create_app
from openbcs.kernel.settings import Settings
from tests.console.helpers import ConsoleUser
from tests.console.test_csrf_and_tenancy import _owner_state, _posts, generic
from tests.fuzz.openapi import served_routes
from tests.support.bodies import CHANNEL

HOSTILE_TEXT = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["", "\x00", "a\x00b", "-1", "0", "99999999999999999999999", "1e309", "../..", "%00", " "]),
    st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), max_size=8),
)


def fuzzed(examples: int) -> Any:
    """Hypothesis settings of these tests: derandomized, no deadline, run inside a function-scoped fixture."""
    return hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Sign-out ends the session the other posts need; it takes no fields and is covered by test_session.py.
FUZZED_POSTS = sorted(path for path in _posts("BCS") if path != "/console/sign-out")


def _mutated(form: dict[str, str], data: st.DataObject) -> dict[str, str]:
    mutated: dict[str, str] = {}
    for name, value in form.items():
        choice = data.draw(st.sampled_from(["keep", "drop", "hostile"]))
        if choice == "keep":
            mutated[name] = value
        elif choice == "hostile":
            mutated[name] = data.draw(HOSTILE_TEXT)
    extra = data.draw(st.dictionaries(st.text(min_size=1, max_size=12), HOSTILE_TEXT, max_size=2))
    return {**extra, **mutated}


def _assert_answered(console: ConsoleUser, response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 303:
        page = console.http.get(response.headers["location"], follow_redirects=False)
        assert page.status_code < 500, page.text


def test_every_console_route_is_fuzzed(settings: Settings) -> None:
    console_routes = set(served_routes(create_app(settings), console=True))
    posts = {r.path for r in console_routes if r.method == "POST" and r.path != "/console/sign-out"}
    covered = {generic(p) for p in FUZZED_POSTS} | {"/console/sign-in", "/console/{rest}"}
    assert posts == covered
    pages = {r.path for r in console_routes if r.method == "GET"}
    assert pages == set(PAGES) | {"/console/{rest}", "/console", "/"}


PAGES = [
    "/console/",
    "/console/sign-in",
    "/console/operations",
    "/console/operations/{operation_id}",
    "/console/alarms",
    "/console/consortium",
    "/console/consortium/quit",
    "/console/instances/new",
    "/console/instances/{blockchain_id}",
    "/console/instances/{blockchain_id}/delete",
    "/console/instances/{blockchain_id}/events",
    "/console/instances/{blockchain_id}/health",
    "/console/instances/{blockchain_id}/certificates",
    "/console/instances/{blockchain_id}/certificates/{org_name}/{cert_type}.zip",
    "/console/instances/{blockchain_id}/channels/{channel_name}",
    "/console/instances/{blockchain_id}/channels/{channel_name}/delete",
    "/console/instances/{blockchain_id}/orgs/{org_name}/admin-custody",
    "/console/signature-requests",
    "/console/signature-requests/{request_id}",
    "/console/signature-requests/{request_id}/envelope.pb",
]


def test_hostile_form_posts_never_answer_a_server_error(tenant, console) -> None:
    bcs_id, _ = _owner_state(tenant)
    forms = _posts(bcs_id)
    paths = [p.replace("BCS", bcs_id) for p in FUZZED_POSTS]

    @fuzzed(6 * len(paths))
    @given(path=st.sampled_from(paths), data=st.data())
    def post(path: str, data: st.DataObject) -> None:
        _assert_answered(console, console.post(path, _mutated(forms[path], data)))

    post()


def test_hostile_page_addresses_never_answer_a_server_error(tenant, console) -> None:
    bcs_id, operation_id = _owner_state(tenant)
    real = {"blockchain_id": bcs_id, "operation_id": operation_id, "channel_name": CHANNEL}

    @fuzzed(4 * len(PAGES))
    @given(page=st.sampled_from(PAGES), data=st.data())
    def visit(page: str, data: st.DataObject) -> None:
        path = page
        for name in ("blockchain_id", "operation_id", "channel_name", "org_name", "cert_type", "request_id"):
            if "{" + name + "}" in path:
                value = data.draw(st.one_of(st.just(real.get(name, "organization")), HOSTILE_TEXT.filter(bool)))
                path = path.replace("{" + name + "}", quote(value, safe=""))
        names = st.sampled_from(["invitee_of", "page", "next", "status", "x"])
        query = data.draw(st.dictionaries(names, HOSTILE_TEXT, max_size=2))
        response = console.http.get(path, params=query, follow_redirects=False)
        assert response.status_code < 500, (path, response.text)

    visit()


def test_hostile_sign_ins_and_unknown_addresses_never_answer_a_server_error(tenant, console_of) -> None:
    browser = console_of(tenant, sign_in=False)

    @fuzzed(40)
    @given(data=st.data())
    def sign_in(data: st.DataObject) -> None:
        fields = {"domain": tenant.account.name, "user": tenant.account.name, "password": "x", "next": "/console/"}
        response = browser.sign_in(**_mutated(fields, data))
        assert response.status_code < 500, response.text
        rest = quote(data.draw(HOSTILE_TEXT), safe="/")
        for method in ("GET", "POST"):
            assert browser.http.request(method, f"/console/x/{rest}", follow_redirects=False).status_code < 500

    sign_in()
