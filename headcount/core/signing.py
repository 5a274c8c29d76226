"""Signing a webhook's delivery, and checking one: what a receiver does (docs/webhooks.md gives the same recipe with the
standard library only).

The signature is HMAC-SHA256 over "<timestamp>.<body>" with the channel's signing secret, sent as
`X-Headcount-Signature: v1=<hex>`; the timestamp (`X-Headcount-Timestamp`, Unix seconds) is signed too, so a receiver that
refuses old timestamps cannot be fed a recorded delivery again. During a rotation the header may list several
signatures, separated by commas; one that matches is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

VERSION = "v1"
TOLERANCE_S = 300  # the replay window: as Stripe's and Slack's signatures, five minutes either way


class SignatureError(ValueError):
    """A delivery that must not be trusted; the message says why."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def verify(
    secret: str,
    timestamp_header: str | None,
    body: bytes,
    signature_header: str | None,
    now_s: float,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Returns when the body was signed with `secret` at a timestamp within `tolerance_s` of `now_s`; raises
    SignatureError otherwise."""
    if not timestamp_header or not re.fullmatch(r"[0-9]{1,12}", timestamp_header.strip()):
        raise SignatureError(f"missing or malformed timestamp: {timestamp_header!r}")
    timestamp = int(timestamp_header.strip())
    if now_s - timestamp > tolerance_s:
        raise SignatureError(f"timestamp too old: {now_s - timestamp:.0f} s ago, beyond the {tolerance_s} s window")
    if timestamp - now_s > tolerance_s:
        raise SignatureError(f"timestamp {timestamp - now_s:.0f} s in the future, beyond the {tolerance_s} s window")
    offered = [part.strip() for part in (signature_header or "").split(",")]
    offered = [part for part in offered if part.startswith(f"{VERSION}=")]
    if not offered:
        raise SignatureError(f"no {VERSION}= signature in the signature header")
    expected = sign(secret, timestamp, body)
    # compare_digest: the time taken says nothing about how much of a forged signature was right. Every candidate is
    # compared, matched or not.
    matched = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered]
    if not any(matched):
        raise SignatureError("signature mismatch: the body or timestamp was changed, or the secret differs")


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
