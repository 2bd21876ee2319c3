"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{body}"`` with the webhook's secret.

Every webhook request carries::

    X-Caseline-Timestamp: 1767225600            (unix seconds when this attempt was signed)
    X-Caseline-Signature: v1=<hex HMAC-SHA256(secret, "1767225600." + raw body)>

A receiver recomputes the HMAC over the *raw* request body (before any JSON parsing),
compares in constant time, and rejects timestamps too far from its own clock (replays).
``verify_signature`` below does exactly that and may be copied into a receiver as is;
it imports only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def generate_secret() -> str:
    """A fresh signing secret (256 bits of randomness)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def compute_signature(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """The header value ``v1=<hex>`` for one request."""
    message = str(int(timestamp)).encode("ascii") + b"." + _as_bytes(body)
    digest = hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify_signature(
    secret: str,
    body: str | bytes,
    timestamp: int | str | None,
    signature: str | None,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    current_time: float | None = None,
) -> bool:
    """True when ``signature`` (the ``X-Caseline-Signature`` header, possibly several
    comma-separated ``v1=`` values during a secret rotation) matches ``body`` and
    ``timestamp`` and the timestamp lies within ``tolerance`` seconds of now."""
    if not signature or timestamp is None:
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    when = time.time() if current_time is None else current_time
    if tolerance is not None and abs(when - ts) > tolerance:
        return False
    expected = compute_signature(secret, ts, body)
    candidates = [part.strip() for part in signature.split(",") if part.strip()]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
