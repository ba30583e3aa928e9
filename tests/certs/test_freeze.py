"""FreezeCert / UnfreezeCert with multipart forms as the SDK sends them: revocation into the organisation's CRL
(signed by its CA, its number raised on every change), the uploaded certificate, and every refusal."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openbcs.kernel.db import Database
from tests.certs.helpers import (
    Certs,
    cert,
    crl_of,
    issued_rows,
    leaf,
    multipart,
    org_pki,
    refused,
    unchanged,
    unzip,
    zip_of,
)

SUCCESS = {"result": "success"}
ALREADY_FROZEN = "Invalid Parameter user alice status : already frozen"
NOT_FROZEN = "Invalid Parameter user alice status : not frozen"


def _crl(certs: Certs, db: Database, bid: str, org: str) -> tuple[int, set[int]]:
    """The org's CRL: the same in every archive of the org (admin, user, ca), each checked against the org's CA,
    and its number the stored one."""
    ca = cert(org_pki(db, bid, org).ca_cert)
    crls = [crl_of(certs.archive(bid, org, kind)["msp/crls/crl.pem"], ca) for kind in ("admin", "user", "ca")]
    assert crls[0] == crls[1] == crls[2]
    assert crls[0][0] == org_pki(db, bid, org).crl_number
    return crls[0]


def _serial(files: dict[str, bytes]) -> int:
    return leaf(files, "signcerts")[1].serial_number


def _accepted(response: Any) -> None:
    assert (response.status_code, response.json()) == (200, SUCCESS)


def _revoked(db: Database, bid: str, org: str) -> list[tuple[int, bool]]:
    """``(serial, revoked)`` of the org's user certificates, in issue order."""
    return [(int(r.serial, 16), r.revoked_at is not None) for r in issued_rows(db, bid, org, role="enrolled")]


def test_freezing_without_a_file_revokes_the_user_and_unfreezing_reinstates_it(
    certs: Certs, bid: str, db: Database
) -> None:
    files = certs.issue(bid, "orga", "alice", hosted=True)
    serial = _serial(files)
    assert _crl(certs, db, bid, "orga") == (0, set())
    orgb_before = _crl(certs, db, bid, "orgb")

    _accepted(certs.set_frozen(bid, "orga", "alice", "freeze"))  # as the SDK sends it: the closing boundary only
    assert _revoked(db, bid, "orga") == [(serial, True)]
    assert _crl(certs, db, bid, "orga") == (1, {serial})
    crl = x509.load_pem_x509_crl(certs.archive(bid, "orga", "ca")["msp/crls/crl.pem"])
    assert not crl.is_signature_valid(cert(org_pki(db, bid, "orga").tlsca_cert).public_key())  # type: ignore[arg-type]
    assert not crl.is_signature_valid(cert(org_pki(db, bid, "orgb").ca_cert).public_key())  # type: ignore[arg-type]
    # The user's own archive carries the new CRL too; other orgs' CRLs do not change.
    again = certs.issue(bid, "orga", "alice", hosted=True)
    assert _serial(again) == serial
    assert crl_of(again["msp/crls/crl.pem"], cert(org_pki(db, bid, "orga").ca_cert)) == (1, {serial})
    assert _crl(certs, db, bid, "orgb") == orgb_before

    _accepted(certs.set_frozen(bid, "orga", "alice", "unfreeze"))
    assert _revoked(db, bid, "orga") == [(serial, False)]
    assert _crl(certs, db, bid, "orga") == (2, set())

    # Frozen again: the CRL number keeps rising.
    _accepted(certs.set_frozen(bid, "orga", "alice"))
    assert _crl(certs, db, bid, "orga") == (3, {serial})


def test_without_a_file_every_certificate_of_the_user_is_revoked(certs: Certs, bid: str, db: Database) -> None:
    serials = {_serial(certs.issue(bid, "orgb", "dave", hosted=False)) for _ in range(2)}
    serials.add(_serial(certs.issue(bid, "orgb", "dave", hosted=True)))
    other = _serial(certs.issue(bid, "orgb", "erin", hosted=False))
    assert len(serials) == 3
    _accepted(certs.set_frozen(bid, "orgb", "dave", "freeze"))
    assert _crl(certs, db, bid, "orgb") == (1, serials)
    revoked = {int(r.serial, 16) for r in issued_rows(db, bid, "orgb") if r.revoked_at is not None}
    assert revoked == serials
    assert other not in revoked


def test_freezing_with_the_users_zip_revokes_exactly_that_certificate(certs: Certs, bid: str, db: Database) -> None:
    first = certs.issue(bid, "orga", "alice", hosted=False)
    second = certs.issue(bid, "orga", "alice", hosted=False)
    s1, s2 = _serial(first), _serial(second)

    _accepted(certs.freeze_with(bid, "orga", "alice", zip_of(first)))
    assert _revoked(db, bid, "orga") == [(s1, True), (s2, False)]
    assert _crl(certs, db, bid, "orga") == (1, {s1})

    # The same certificate again: already frozen, nothing changes.
    with unchanged(db):
        refused(certs.freeze_with(bid, "orga", "alice", zip_of(first)), "BCS.4006003", ALREADY_FROZEN)

    # Only its signcerts matter: a zip of just the user's certificate works too.
    (path, _) = leaf(second, "signcerts")
    _accepted(certs.freeze_with(bid, "orga", "alice", zip_of({path: second[path]})))
    assert _crl(certs, db, bid, "orga") == (2, {s1, s2})

    # Unfreezing with a zip reinstates that certificate only.
    _accepted(certs.freeze_with(bid, "orga", "alice", zip_of(first), "unfreeze"))
    assert _revoked(db, bid, "orga") == [(s1, False), (s2, True)]
    assert _crl(certs, db, bid, "orga") == (3, {s2})
    with unchanged(db):
        refused(certs.freeze_with(bid, "orga", "alice", zip_of(first), "unfreeze"), "BCS.4006003", NOT_FROZEN)


def test_state_errors_change_nothing(certs: Certs, bid: str, db: Database) -> None:
    with unchanged(db):
        for action in ("freeze", "unfreeze"):
            refused(
                certs.set_frozen(bid, "orga", "nobody", action),
                "BCS.4006014",
                "Invalid Parameter user_name : no certificate was issued to nobody in orga",
            )

    certs.issue(bid, "orga", "alice", hosted=True)
    certs.issue(bid, "orgb", "bob1", hosted=True)
    with unchanged(db):
        # A user of another org is unknown here.
        refused(
            certs.set_frozen(bid, "orga", "bob1"),
            "BCS.4006014",
            "Invalid Parameter user_name : no certificate was issued to bob1 in orga",
        )
        refused(certs.set_frozen(bid, "orga", "alice", "unfreeze"), "BCS.4006003", NOT_FROZEN)

    _accepted(certs.set_frozen(bid, "orga", "alice"))
    with unchanged(db):
        refused(certs.set_frozen(bid, "orga", "alice"), "BCS.4006003", ALREADY_FROZEN)
        # Organisation and user-name rules.
        refused(certs.set_frozen(bid, "nope", "alice"), "BCS.4001051", "Input org nope is not exist")
        refused(certs.set_frozen(bid, "orderer", "alice"), "BCS.4001051", "Input org orderer is not exist")
        refused(certs.set_frozen(bid, "orga", "Alice", "unfreeze"), "BCS.4006014", contains="user_name")
        refused(certs.set_frozen(bid, "orga", "al", "freeze"), "BCS.4006014", contains="user_name")


def _stored(files: dict[str, bytes]) -> bytes:
    """A zip of ``files``, stored (not compressed), with fixed dates."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


def _zip_of_size(files: dict[str, bytes], size: int) -> bytes:
    """A zip (stored, not compressed) of ``files`` plus a padding member, exactly ``size`` bytes long."""
    bare = len(_stored({**files, "pad.bin": b""}))
    content = _stored({**files, "pad.bin": b"x" * (size - bare)})
    assert len(content) == size
    return content


def _corrupt(content: bytes) -> bytes:
    """The zip with one byte of its member changed: its CRC no longer matches."""
    at = content.index(b"BEGIN CERTIFICATE")
    return content[:at] + b"X" + content[at + 1 :]


def _encrypted(content: bytes) -> bytes:
    """The zip with its member flagged as encrypted (in the local and the central header)."""
    flagged = bytearray(content)
    flagged[6] |= 1
    flagged[flagged.index(b"PK\x01\x02") + 8] |= 1
    return bytes(flagged)


def _bomb(signcert: str) -> bytes:
    """A small zip whose certificate member inflates to a megabyte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(signcert, b"\0" * 1024 * 1024)
    assert len(buffer.getvalue()) < 30 * 1024
    return buffer.getvalue()


def _reissued_by_self(pem: bytes) -> bytes:
    """The user's certificate re-signed by a fresh key that claims the org CA's name (not the org's CA)."""
    original = x509.load_pem_x509_certificate(pem)
    key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())
        .serial_number(original.serial_number)
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return forged.public_bytes(serialization.Encoding.PEM)


def test_bad_files_are_refused_and_change_nothing(
    certs: Certs, bid: str, db: Database, make_instance: Callable[..., str]
) -> None:
    alice = certs.issue(bid, "orga", "alice", hosted=False)
    bob = certs.issue(bid, "orga", "bobby", hosted=False)
    # The same org and user name in another instance of the tenant: another CA.
    elsewhere = certs.issue(make_instance("bcs-other"), "orga", "alice", hosted=False)
    signcert = leaf(alice, "signcerts")[0]
    not_ca = "was not issued by this organisation's CA"
    cases = [
        (b"this is not a zip", "not a zip archive"),
        (b"PK\x03\x04" + b"\0" * 100, "not a zip archive"),
        (_zip_of_size(alice, 30 * 1024 + 1), "at most 30 KB"),
        (zip_of({"readme.txt": b"hello"}), "no user certificate (msp/signcerts/*.pem) in the archive"),
        (
            zip_of({signcert: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
            "is not a PEM certificate",
        ),
        (zip_of(elsewhere), not_ca),
        (zip_of({signcert: _reissued_by_self(alice[signcert])}), not_ca),
        (zip_of({signcert: alice[signcert], "msp/signcerts/other.pem": elsewhere[signcert]}), not_ca),
        (zip_of(bob), "is not a certificate of user alice"),
        (_corrupt(_stored({signcert: alice[signcert]})), "cannot be read from the zip archive"),
        (_encrypted(_stored({signcert: alice[signcert]})), "cannot be read from the zip archive"),
        (_bomb(signcert), "is too large for a certificate"),
    ]
    with unchanged(db):
        for content, reason in cases:
            for action in ("freeze", "unfreeze"):
                response = certs.freeze_with(bid, "orga", "alice", content, action)
                refused(response, "BCS.4006014", contains="Invalid Parameter file : ")
                assert reason in response.json()["error_msg"], (reason, response.text)
    # Exactly 30 KB is within the limit: the right certificate is then revoked.
    _accepted(certs.freeze_with(bid, "orga", "alice", _zip_of_size(alice, 30 * 1024)))
    assert _crl(certs, db, bid, "orga") == (1, {_serial(alice)})


NOT_A_FORM = "Invalid Parameter Content-Type : use multipart/form-data with an optional file field"


def test_form_fields_other_than_file_are_refused(certs: Certs, bid: str, db: Database) -> None:
    files = certs.issue(bid, "orga", "alice", hosted=False)
    archive = zip_of(files)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"note": "please"}, "Invalid Parameter note : unknown field"),
        ({"files": ("usercert.zip", archive)}, "Invalid Parameter files : unknown field"),
        ({"cert": ("usercert.zip", archive)}, "Invalid Parameter cert : unknown field"),
        ({"file": ("usercert.zip", archive), "reason": "x"}, "Invalid Parameter reason : unknown field"),
        # Starlette's own limits (one file, one field) answer first, in its words.
        ({"file": ("a.zip", archive), "file2": ("b.zip", archive)}, "Too many files. Maximum number of files is 1."),
        ({"a": "1", "b": "2"}, "Too many fields. Maximum number of fields is 1."),
        ({"file": "not a file"}, "Invalid Parameter file : must be a file part, not a text field"),
    ]
    with unchanged(db):
        for fields, message in cases:
            raw, content_type = multipart(fields)
            for action in ("freeze", "unfreeze"):
                response = certs.set_frozen(bid, "orga", "alice", action, raw=raw, content_type=content_type)
                refused(response, "BCS.4006014", message)
        # Bodies that are not a multipart form.
        for raw, content_type in (
            (b'{"file": "x"}', "application/json"),
            (b"file=x", "application/x-www-form-urlencoded"),
            (archive, "application/zip"),
        ):
            refused(
                certs.set_frozen(bid, "orga", "alice", raw=raw, content_type=content_type), "BCS.4006014", NOT_A_FORM
            )
        for content_type in ("multipart/form-data; boundary=xyz", "multipart/form-data"):
            refused(certs.set_frozen(bid, "orga", "alice", raw=b"garbage", content_type=content_type), "BCS.4006014")
    # The same zip under the name `file` is accepted.
    _accepted(certs.freeze_with(bid, "orga", "alice", archive))
    assert _crl(certs, db, bid, "orga")[1] == {_serial(files)}


def test_an_empty_body_without_content_type_freezes_everything(certs: Certs, bid: str, db: Database) -> None:
    files = certs.issue(bid, "orga", "alice", hosted=True)
    _accepted(certs.set_frozen(bid, "orga", "alice", raw=b"", content_type=None))
    assert _crl(certs, db, bid, "orga") == (1, {_serial(files)})
    assert _revoked(db, bid, "orga") == [(_serial(files), True)]
    assert unzip(certs.user_cert(bid, "orga", "alice", {"security_mode": True}))  # still downloadable when frozen
