"""Checking that a request on ``POST /slack/events`` comes from Slack, before any of Bolt sees it.

Bolt checks signatures too (and still does, after this), but a malformed timestamp makes its check raise instead
of refuse, and Bolt then runs our error handler on the unverified body. Here every failure is a plain refusal.
Slack's scheme: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{raw body}`` with the app's signing secret.
"""

from __future__ import annotations

import hashlib
import hmac

from slack_bolt.request.async_request import AsyncBoltRequest

VERIFIED = "threadwise_signature_verified"
"""Set in the Bolt context of an HTTP request whose signature we checked."""

MAX_CLOCK_SKEW_SECONDS = 300
"""Slack's own rule: a request signed more than five minutes away from now may be a replay."""

_MAX_TIMESTAMP_DIGITS = 12


def refusal(secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float) -> str | None:
    """Why this request is not Slack's (``None`` when it is): the timestamp must be a whole number of seconds
    within five minutes of ``now``, and the signature Slack's HMAC of the timestamp and the raw body."""
    if not timestamp or not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return "X-Slack-Request-Timestamp must be a Unix time in whole seconds"
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return "X-Slack-Request-Timestamp is more than five minutes from now"
    if not signature:
        return "X-Slack-Signature is missing"
    # Over the raw bytes, compared as bytes: slack_sdk's verifier decodes the body and compares str, and both
    # raise (a 500) on a body that is not UTF-8 or a header that is not ASCII.
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(f"v0={digest}".encode(), signature.encode("utf-8", "replace")):
        return "X-Slack-Signature does not match the request"
    return None


def is_verified(request: AsyncBoltRequest) -> bool:
    """Whether Slack sent this request: its signature was checked here, or it came over Socket Mode, whose
    connection Slack opened for our app token."""
    return request.mode == "socket_mode" or request.context.get(VERIFIED) is True
