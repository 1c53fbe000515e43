"""Webhook authentication: GitHub's HMAC signature and GitLab's token / Standard Webhooks signature."""

from __future__ import annotations

import hashlib
import hmac


def github_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Check `X-Hub-Signature-256` over the raw body, in constant time."""
    if not header or not secret:
        return False
    expected = github_signature(secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace"))
