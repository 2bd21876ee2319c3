"""Webhook signatures (pure: no database)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from caseline.notify import signing

pytestmark = pytest.mark.pure

BODY = b'{"id":"wh-1-2","type":"ticket.created"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(b"k" * 20, b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert signing.compute_signature("k" * 20, 1767225600, BODY) == f"v1={expected}"
    assert signing.compute_signature("k" * 20, "1767225600", BODY.decode()) == f"v1={expected}"


def test_verify_accepts_within_tolerance_and_rejects_outside():
    sig = signing.compute_signature("secret-000000000000", 1000, BODY)
    assert signing.verify_signature("secret-000000000000", BODY, "1000", sig, current_time=1200)
    assert signing.verify_signature("secret-000000000000", BODY, 1000, sig, current_time=700)
    assert not signing.verify_signature("secret-000000000000", BODY, 1000, sig, current_time=1301)
    assert signing.verify_signature(
        "secret-000000000000", BODY, 1000, sig, current_time=5000, tolerance=4000
    )


@pytest.mark.parametrize(
    "secret, body, ts, sig",
    [
        ("other-secret-0000000", BODY, "1000", None),
        ("secret-000000000000", BODY + b"x", "1000", None),
        ("secret-000000000000", BODY, "1001", None),
        ("secret-000000000000", BODY, "not-a-number", None),
        ("secret-000000000000", BODY, None, None),
        ("secret-000000000000", BODY, "1000", ""),
        ("secret-000000000000", BODY, "1000", "v1=deadbeef"),
    ],
)
def test_verify_rejects_tampering(secret, body, ts, sig):
    good = signing.compute_signature("secret-000000000000", 1000, BODY)
    signature = good if sig is None else sig
    assert not signing.verify_signature(secret, body, ts, signature, current_time=1000)


def test_verify_accepts_any_of_several_signatures_during_rotation():
    new = signing.compute_signature("new-secret-00000000", 1000, BODY)
    old = signing.compute_signature("old-secret-00000000", 1000, BODY)
    header = f"{old}, {new}"
    assert signing.verify_signature("new-secret-00000000", BODY, 1000, header, current_time=1000)


def test_generated_secrets_are_random_and_long():
    a, b = signing.generate_secret(), signing.generate_secret()
    assert a != b and a.startswith("whsec_") and len(a) >= 40
