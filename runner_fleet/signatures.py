"""Webhook authentication: GitHub's HMAC signature and GitLab's token / Standard Webhooks signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# What GitHub sends: anything else is refused before the body is hashed.
_GITHUB_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
# A shared secret longer than this is not one anybody configured; refusing it keeps compares cheap.
MAX_TOKEN_CHARS = 4096
# Standard Webhooks: ids are short visible-ASCII strings (GitLab sends a UUID), timestamps are
# seconds since the epoch, and a header lists a few `v1,<base64>` signatures during key rotation.
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
MAX_SIGNATURE_HEADER_CHARS = 1024


def github_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Check `X-Hub-Signature-256` over the raw body, in constant time."""
    if not header or not secret:
        return False
    header = header.strip()
    if not _GITHUB_SIGNATURE.fullmatch(header):
        return False
    expected = github_signature(secret, body)
    return hmac.compare_digest(expected.encode(), header.encode())


def verify_gitlab_token(expected: bytes, header: str | None) -> bool:
    """`X-Gitlab-Token` is the shared secret itself; compare in constant time."""
    if not header or not expected or len(header) > MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(expected, header.encode("utf-8", "replace"))


# Standard Webhooks (which GitLab's signed webhooks follow) recommends five minutes either way.
SIGNATURE_TOLERANCE_S = 5 * 60


def standard_webhooks_key(signing_token: str) -> bytes:
    """A `whsec_` token carries its key base64-encoded; any other token is the key itself."""
    if signing_token.startswith("whsec_"):
        return base64.b64decode(signing_token.removeprefix("whsec_"))
    return signing_token.encode()


def standard_webhooks_signature(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_standard_webhook(
    signing_token: str,
    *,
    message_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
) -> str | None:
    """None when the signature is valid and fresh; otherwise why it is not (never echoing a secret).

    The header may hold several space-separated signatures (key rotation); one valid one suffices.
    """
    if not (message_id and timestamp and signature_header):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not _MESSAGE_ID.fullmatch(message_id):
        return "webhook-id is not a message id"
    # Not int() alone: it also takes other scripts' digits, "_" and spaces, and numbers too large
    # to subtract from a float.
    if not _TIMESTAMP.fullmatch(timestamp):
        return "webhook-timestamp is not a number"
    if len(signature_header) > MAX_SIGNATURE_HEADER_CHARS:
        return "webhook-signature is too long"
    sent = int(timestamp)
    if abs(now - sent) > SIGNATURE_TOLERANCE_S:
        return "webhook-timestamp is too old or in the future"
    expected = standard_webhooks_signature(standard_webhooks_key(signing_token), message_id, timestamp, body)
    for candidate in signature_header.split():
        if hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace")):
            return None
    return "webhook-signature does not match"
