"""Signature headers no forge would send are refused with a reason, never with an exception."""

from __future__ import annotations

import pytest

from runner_fleet.signatures import (
    github_signature,
    standard_webhooks_signature,
    verify_github_signature,
    verify_gitlab_token,
    verify_standard_webhook,
)

KEY = b"0123456789abcdef0123456789abcdef"
BODY = b'{"object_kind":"build"}'
NOW = 1_700_000_000


def _problem(message_id: str, timestamp: str, signature: str | None = None) -> str | None:
    try:
        signature = signature or standard_webhooks_signature(KEY, message_id, timestamp, BODY)
    except UnicodeError:
        signature = "v1,AAAA"
    return verify_standard_webhook(
        KEY.decode(),
        message_id=message_id,
        timestamp=timestamp,
        signature_header=signature,
        body=BODY,
        now=NOW,
    )


@pytest.mark.parametrize(
    "timestamp",
    ["9" * 400, "-1700000000", "1_700_000_000", " 1700000000", "\u0661\u0667" + "\u0660" * 8, "1e9"],
    ids=["400-digits", "negative", "underscores", "space", "arabic-indic-digits", "exponent"],
)
def test_timestamps_are_plain_decimal_seconds(timestamp: str) -> None:
    """Only ASCII digits make a webhook-timestamp, even when the signature covers what was sent."""
    assert _problem("msg_1", timestamp) == "webhook-timestamp is not a number"


@pytest.mark.parametrize("message_id", ["msg_\udcff", "m" * 129, "msg 1", "msg_\u00e9"])
def test_message_ids_are_short_visible_ascii(message_id: str) -> None:
    """A webhook-id that could not be a state key, or not be encoded at all, is refused."""
    assert _problem(message_id, str(NOW)) == "webhook-id is not a message id"


def test_a_good_signature_among_too_many_candidates_is_refused() -> None:
    """A webhook-signature header over 1 KiB is refused before any candidate is compared."""
    good = standard_webhooks_signature(KEY, "msg_1", str(NOW), BODY)
    assert _problem("msg_1", str(NOW), "v1,AAAA " * 200 + good) == "webhook-signature is too long"


def test_only_githubs_signature_shape_is_compared() -> None:
    """Padding, a second digest or upper-case hex around a good signature are all refused."""
    good = github_signature(b"secret", BODY)
    assert verify_github_signature(b"secret", BODY, f"  {good} ")
    for header in (good + "0", good + ",sha256=00", good.upper(), "sha256=" + "0" * 10_000):
        assert not verify_github_signature(b"secret", BODY, header)


def test_an_over_long_gitlab_token_is_refused() -> None:
    """A token header longer than any configured token is refused without comparing."""
    assert not verify_gitlab_token(b"t" * 10, "t" * 5000)
    assert verify_gitlab_token(b"t" * 4096, "t" * 4096)
