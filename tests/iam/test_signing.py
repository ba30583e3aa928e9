"""Unit tests of openbcs.iam.signing: the spec's test vectors, canonicalisation edge cases, strict parsing.

Where it helps, the expected value is also computed with the official SDK's own Signer, so OpenBCS and the SDK are
checked against each other and not only against numbers copied from the spec.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from openbcs.iam import signing
from tests.support.servers import sdk_signed_headers

AK = "HPUAEXAMPLEAK0000001"
SK = "exampleSecretKey0000000000000000000000001"
HOST = "bcs.cn-north-4.myhuaweicloud.com"
PROJECT = "0123456789abcdef0123456789abcdef"
DATE = "20240101T000000Z"
USER_AGENT = "huaweicloud-usdk-python/3.0"
SIGNED = ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date")

BODY_A = (
    b'{"inviter_bcsid": "b1", "inviter_projectid": "p1", "inviter_domainid": "d1", "inviter_username": "u1", '
    b'"channel_name": "ch", "invitee_bcsid": "b2", "invitee_projectid": "p2", "invitee_domainid": "d2"}'
)
CANONICAL_A = (
    "PUT\n"
    f"/v2/{PROJECT}/members/quit/\n"
    "\n"
    "content-type:application/json;charset=utf-8\n"
    f"host:{HOST}\n"
    f"user-agent:{USER_AGENT}\n"
    f"x-project-id:{PROJECT}\n"
    f"x-sdk-date:{DATE}\n"
    "\n"
    "content-type;host;user-agent;x-project-id;x-sdk-date\n"
    "97dec7b917ff495423ff13e553ea9747b9bfd30b231710a0dfedb6a8eae5060a"
)
STRING_TO_SIGN_A = f"SDK-HMAC-SHA256\n{DATE}\ndd4159105ddeede12b3479f1d401b65e374eb7b919f309cc03559357ad82ca16"
SIGNATURE_A = "7a09537ae2f5b84369d382d2b1c14bbed27918d32132154f10336b6b440a8d3b"

QUERY_B = "blockchain_id=x%20y&operation_status=finished&resource_type=BCSSVC01"
CANONICAL_B = (
    "GET\n"
    f"/v2/{PROJECT}/operation/record/\n"
    f"{QUERY_B}\n"
    "content-type:application/json\n"
    f"host:{HOST}\n"
    f"user-agent:{USER_AGENT}\n"
    f"x-project-id:{PROJECT}\n"
    f"x-sdk-date:{DATE}\n"
    "\n"
    "content-type;host;user-agent;x-project-id;x-sdk-date\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
STRING_TO_SIGN_B = f"SDK-HMAC-SHA256\n{DATE}\nb9bcfe97a5376f690b1475b361e53d15ce46f4ad1287b774003181be0bfb7fd6"
SIGNATURE_B = "44b0b5bc7eb7f33482abf834cce19854066832e70013fd3a417cc925e38fd525"


def _headers(content_type: str) -> dict[str, str]:
    return {
        "content-type": content_type,
        "host": HOST,
        "user-agent": USER_AGENT,
        "x-project-id": PROJECT,
        "x-sdk-date": DATE,
        # Received but unsigned headers must not affect the canonical request.
        "accept": "*/*",
        "content-length": "123",
    }


def _sdk_authorization(method: str, path_and_query: str, content_type: str, body: bytes) -> str:
    headers = sdk_signed_headers(
        method=method,
        url=f"https://{HOST}{path_and_query}",
        ak=AK,
        sk=SK,
        project_id=PROJECT,
        body=body,
        content_type=content_type,
        sdk_date=datetime(2024, 1, 1, tzinfo=UTC),
        extra_headers={"User-Agent": USER_AGENT},
    )
    return headers["Authorization"]


def test_vector_a_put_with_body() -> None:
    canonical = signing.canonical_request(
        method="put",
        raw_path=f"/v2/{PROJECT}/members/quit",
        query_string="",
        headers=_headers("application/json;charset=utf-8"),
        signed_headers=SIGNED,
        body=BODY_A,
    )
    assert canonical == CANONICAL_A
    to_sign = signing.string_to_sign(DATE, canonical)
    assert to_sign == STRING_TO_SIGN_A
    assert signing.sign(SK, to_sign) == SIGNATURE_A


def test_vector_a_is_what_the_sdk_signs() -> None:
    authorization = _sdk_authorization("PUT", f"/v2/{PROJECT}/members/quit", "application/json;charset=utf-8", BODY_A)
    assert authorization == (f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={';'.join(SIGNED)}, Signature={SIGNATURE_A}")
    parsed = signing.parse_authorization(authorization)
    assert parsed == signing.SignatureHeader(AK, SIGNED, SIGNATURE_A)


@pytest.mark.parametrize(
    "query_string",
    [
        QUERY_B,
        "resource_type=BCSSVC01&blockchain_id=x%20y&operation_status=finished",
        "operation_status=finished&resource_type=BCSSVC01&blockchain_id=x y",
        "operation_status=fin%69shed&%72esource_type=BCSSVC01&blockchain_id=x%20y",
    ],
)
def test_vector_b_get_with_query_in_any_order_and_encoding(query_string: str) -> None:
    canonical = signing.canonical_request(
        method="GET",
        raw_path=f"/v2/{PROJECT}/operation/record",
        query_string=query_string,
        headers=_headers("application/json"),
        signed_headers=SIGNED,
        body=b"",
    )
    assert canonical == CANONICAL_B
    to_sign = signing.string_to_sign(DATE, canonical)
    assert to_sign == STRING_TO_SIGN_B
    assert signing.sign(SK, to_sign) == SIGNATURE_B


def test_vector_b_is_what_the_sdk_signs() -> None:
    authorization = _sdk_authorization(
        "GET",
        f"/v2/{PROJECT}/operation/record?resource_type=BCSSVC01&blockchain_id=x%20y&operation_status=finished",
        "application/json",
        b"",
    )
    assert authorization.endswith(f"Signature={SIGNATURE_B}")


def test_header_values_are_trimmed_and_names_taken_as_signed() -> None:
    headers = _headers("application/json;charset=utf-8")
    headers["user-agent"] = f"  {USER_AGENT}\t"
    headers["host"] = f" {HOST} "
    canonical = signing.canonical_request(
        method="PUT",
        raw_path=f"/v2/{PROJECT}/members/quit",
        query_string="",
        headers=headers,
        signed_headers=SIGNED,
        body=BODY_A,
    )
    assert canonical == CANONICAL_A


def test_a_changed_signed_header_changes_the_signature() -> None:
    headers = _headers("application/json")
    headers["x-project-id"] = "f" * 32
    canonical = signing.canonical_request(
        method="GET",
        raw_path=f"/v2/{PROJECT}/operation/record",
        query_string=QUERY_B,
        headers=headers,
        signed_headers=SIGNED,
        body=b"",
    )
    assert canonical != CANONICAL_B
    assert signing.sign(SK, signing.string_to_sign(DATE, canonical)) != SIGNATURE_B


def _sdk_canonical_uri(path: str) -> str:
    return Signer(BasicCredentials(AK, SK))._process_canonical_uri(
        SdkRequest(method="GET", schema="https", host=HOST, resource_path=path)
    )


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("/v2/p/members/quit", "/v2/p/members/quit/"),
        ("/v2/p/members/quit/", "/v2/p/members/quit/"),
        ("/v2/p/a b", "/v2/p/a%20b/"),
        ("/v2/p/a%20b", "/v2/p/a%20b/"),
        ("/v2/p/a+b", "/v2/p/a%2Bb/"),
        ("/v2/p/a%2Bb/", "/v2/p/a%2Bb/"),
        ("/v2/p/a%2bb", "/v2/p/a%2Bb/"),
        ("/v2/p/~x-y_z.w", "/v2/p/~x-y_z.w/"),
        ("/v2/p/%C3%A9t%C3%A9", "/v2/p/%C3%A9t%C3%A9/"),
        ("/v2/p/a:b@c", "/v2/p/a%3Ab%40c/"),
        ("/v2/p/a%2Fb", "/v2/p/a/b/"),
        ("/", "/"),
    ],
)
def test_canonical_uri(raw_path: str, expected: str) -> None:
    assert signing.canonical_uri(raw_path) == expected
    assert _sdk_canonical_uri(raw_path) == expected


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("", ""),
        ("a=x%20y", "a=x%20y"),
        ("a=x y", "a=x%20y"),
        # A literal '+' is a plus, not a space (the SDK never uses '+' for spaces).
        ("a=x+y", "a=x%2By"),
        ("a=x%2By", "a=x%2By"),
        ("a=x%2by", "a=x%2By"),
        # Repeated names: every pair kept, sorted by value.
        ("a=2&a=10&a=1", "a=1&a=10&a=2"),
        ("b=1&a=2&B=0&a=1", "B=0&a=1&a=2&b=1"),
        ("limit=10&offset=0", "limit=10&offset=0"),
        ("flag", "flag="),
        ("flag=", "flag="),
        ("&&a=1&", "a=1"),
        ("n%20m=v", "n%20m=v"),
        ("a=%E4%B8%AD~*", "a=%E4%B8%AD~%2A"),
        ("a=b=c", "a=b%3Dc"),
    ],
)
def test_canonical_query(query_string: str, expected: str) -> None:
    assert signing.canonical_query(query_string) == expected


@pytest.mark.parametrize(
    "pairs",
    [
        [("a", "x y"), ("a", "x+y"), ("b", "~!*()")],
        [("z", "1"), ("a", "2"), ("m", "%")],
        [("blockchain_id", "中文"), ("operation_status", "finished")],
    ],
)
def test_canonical_query_agrees_with_the_sdk(pairs: list[tuple[str, str]]) -> None:
    sdk = Signer.process_canonical_query_string(
        SdkRequest(method="GET", schema="https", host=HOST, resource_path="/", query_params=list(pairs))
    )
    # Sent the way the SDK sends it (its canonical form) and in a shuffled, differently encoded form.
    assert signing.canonical_query(sdk) == sdk
    shuffled = "&".join(f"{name}={value.replace('%', '%25').replace('+', '%2B')}" for name, value in reversed(pairs))
    assert signing.canonical_query(shuffled) == sdk


def test_payload_hashes() -> None:
    body = b'{"a": 1}'
    digest = hashlib.sha256(body).hexdigest()
    signed = ("content-type", "host", "x-sdk-content-sha256")
    multipart = {"content-type": "multipart/form-data; boundary=x", "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}
    assert signing.payload_hashes(b"", {}, ()) == (signing.EMPTY_BODY_SHA256,)
    assert hashlib.sha256(b"").hexdigest() == signing.EMPTY_BODY_SHA256
    assert signing.payload_hashes(body, {}, ("host",)) == (digest,)
    # A signed UNSIGNED-PAYLOAD where the SDKs send it is the literal for a body; for an empty body the Python core
    # signs the empty hash and the Node.js core the literal: both are candidates.
    assert signing.payload_hashes(body, multipart, signed) == ("UNSIGNED-PAYLOAD",)
    assert signing.payload_hashes(b"", multipart, signed) == (signing.EMPTY_BODY_SHA256, "UNSIGNED-PAYLOAD")
    # Never honoured when the signature does not cover the header: the body's own hash counts then.
    assert signing.payload_hashes(body, {**multipart, "content-type": "application/json"}, ("host",)) == (digest,)
    # A signed hex digest must be the body's (in either case); it is signed as sent.
    assert signing.payload_hashes(body, {"x-sdk-content-sha256": digest}, signed) == (digest,)
    assert signing.payload_hashes(body, {"x-sdk-content-sha256": digest.upper()}, signed) == (digest.upper(),)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        # The digest of another body: a captured request replayed with a different body.
        (b'{"a": 2}', {"x-sdk-content-sha256": hashlib.sha256(b'{"a": 1}').hexdigest()}),
        (b"", {"x-sdk-content-sha256": hashlib.sha256(b'{"a": 1}').hexdigest()}),
        # UNSIGNED-PAYLOAD with a JSON body or no Content-Type: no SDK sends that.
        (b'{"a": 1}', {"content-type": "application/json", "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}),
        (b'{"a": 1}', {"x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}),
        (b"", {"content-type": "application/json", "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}),
        # Anything else is neither.
        (b'{"a": 1}', {"x-sdk-content-sha256": "unsigned-payload", "content-type": "text/plain"}),
        (b'{"a": 1}', {"x-sdk-content-sha256": hashlib.sha256(b'{"a": 1}').hexdigest()[:-1]}),
        (b'{"a": 1}', {"x-sdk-content-sha256": ""}),
    ],
)
def test_payload_hashes_refuses_a_signed_hash_that_does_not_cover_the_body(
    body: bytes, headers: dict[str, str]
) -> None:
    with pytest.raises(signing.SignatureFormatError):
        signing.payload_hashes(body, headers, ("host", "x-sdk-content-sha256"))


@pytest.mark.parametrize(
    ("content_type", "allowed"),
    [
        (None, False),
        ("", False),
        ("application/json", False),
        ("APPLICATION/JSON", True),  # the Python core compares case-sensitively and sends it
        ("application/json;charset=UTF-8", True),  # the Node.js core sends it for anything but exactly JSON
        ("application/bson", True),  # Node.js
        ("multipart/form-data; boundary=x", True),
        ("application/octet-stream", True),
        ("text/plain", True),
    ],
)
def test_unsigned_payload_is_allowed_where_an_sdk_sends_it(content_type: str | None, allowed: bool) -> None:
    assert signing.unsigned_payload_allowed(content_type) is allowed


def test_parse_authorization_accepts_the_sdk_format() -> None:
    value = f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE_B.upper()}"
    assert signing.parse_authorization(value) == signing.SignatureHeader(AK, ("host", "x-sdk-date"), SIGNATURE_B)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer abc",
        "SDK-HMAC-SHA256",
        f"SDK-HMAC-SHA256 Access={AK}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date",
        f"SDK-HMAC-SM3 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE_B}",
        f"sdk-hmac-sha256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE_B}",
        f"SDK-HMAC-SHA256 Access=, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE_B}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=, Signature={SIGNATURE_B}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE_B[:-1]}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE_B}0",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={'g' * 64}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=Host;X-Sdk-Date, Signature={SIGNATURE_B}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;;x-sdk-date, Signature={SIGNATURE_B}",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date;, Signature={SIGNATURE_B}",
        f"SDK-HMAC-SHA256 Signature={SIGNATURE_B}, Access={AK}, SignedHeaders=host;x-sdk-date",
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE_B}, Extra=1",
        f"SDK-HMAC-SHA256 Access={AK} SignedHeaders=host;x-sdk-date Signature={SIGNATURE_B}",
    ],
)
def test_parse_authorization_rejects_malformed_headers(value: str) -> None:
    with pytest.raises(signing.SignatureFormatError):
        signing.parse_authorization(value)


def test_parse_sdk_date() -> None:
    assert signing.parse_sdk_date("20240101T000000Z") == datetime(2024, 1, 1, tzinfo=UTC)
    assert signing.parse_sdk_date("20241231T235959Z") == datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert signing.parse_sdk_date("20240229T120000Z").tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2024-01-01T00:00:00Z",
        "20240101T000000",
        "20240101000000Z",
        "20240101T000000+0000",
        " 20240101T000000Z",
        "20240101T000000Z ",
        "20240101t000000z",
        "2024111T000000Z",  # one-digit month or day: strptime alone would take it
        "20240101T0000Z",  # one-digit minute and second
        "20240101T00000Z",
        "\uff120240101T000000Z",  # a non-ASCII (full-width) digit
        "20241301T000000Z",
        "20240230T000000Z",
        "20240101T240000Z",
        "20240101T006000Z",
        "Mon, 01 Jan 2024 00:00:00 GMT",
    ],
)
def test_parse_sdk_date_is_strict(value: str) -> None:
    with pytest.raises(signing.SignatureFormatError):
        signing.parse_sdk_date(value)


def test_signatures_match() -> None:
    assert signing.signatures_match(SIGNATURE_A, SIGNATURE_A)
    assert not signing.signatures_match(SIGNATURE_A, SIGNATURE_B)
    assert not signing.signatures_match(SIGNATURE_A, SIGNATURE_A[:-1])
