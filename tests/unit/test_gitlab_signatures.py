import base64
import time

from runner_fleet.signatures import (
    SIGNATURE_TOLERANCE_S,
    standard_webhooks_key,
    standard_webhooks_signature,
    verify_gitlab_token,
    verify_standard_webhook,
)

BODY = b'{"object_kind":"build"}'
KEY = b"0123456789abcdef0123456789abcdef"
WHSEC = "whsec_" + base64.b64encode(KEY).decode()


def _verify(
    signing_token: str,
    *,
    sig: str | None,
    ts: str | None,
    msg_id: str | None = "msg_1",
    now: float | None = None,
    body: bytes = BODY,
) -> str | None:
    return verify_standard_webhook(
        signing_token,
        message_id=msg_id,
        timestamp=ts,
        signature_header=sig,
        body=body,
        now=now or time.time(),
    )


def test_token_matches_only_exactly() -> None:
    """X-Gitlab-Token must equal the configured token; wrong, missing or empty ones fail."""
    assert verify_gitlab_token(b"hook-token", "hook-token")
    for header in ("hook-token ", "HOOK-TOKEN", "", None):
        assert not verify_gitlab_token(b"hook-token", header)
    assert not verify_gitlab_token(b"", "")


def test_whsec_tokens_carry_a_base64_key() -> None:
    """A whsec_ signing token's key is the base64-decoded remainder; other tokens are their own key."""
    assert standard_webhooks_key(WHSEC) == KEY
    assert standard_webhooks_key("plain-token") == b"plain-token"


def test_a_good_signature_verifies() -> None:
    """A v1 signature over id.timestamp.body with the right key verifies."""
    ts = str(int(time.time()))
    assert _verify(WHSEC, sig=standard_webhooks_signature(KEY, "msg_1", ts, BODY), ts=ts) is None


def test_any_of_several_signatures_may_match() -> None:
    """During key rotation the header lists several signatures; one good one is enough."""
    ts = str(int(time.time()))
    header = "v1,AAAA " + standard_webhooks_signature(KEY, "msg_1", ts, BODY)
    assert _verify(WHSEC, sig=header, ts=ts) is None


def test_wrong_key_body_or_id_fails() -> None:
    """A signature made with another key, over another body, or for another message ID fails."""
    ts = str(int(time.time()))
    good = standard_webhooks_signature(KEY, "msg_1", ts, BODY)
    assert _verify(WHSEC, sig=standard_webhooks_signature(b"other", "msg_1", ts, BODY), ts=ts)
    assert _verify(WHSEC, sig=good, ts=ts, body=BODY + b" ")
    assert _verify(WHSEC, sig=good, ts=ts, msg_id="msg_2")


def test_missing_headers_fail() -> None:
    """Missing id, timestamp or signature is a failure with a reason."""
    ts = str(int(time.time()))
    good = standard_webhooks_signature(KEY, "msg_1", ts, BODY)
    assert _verify(WHSEC, sig=None, ts=ts) is not None
    assert _verify(WHSEC, sig=good, ts=None) is not None
    assert _verify(WHSEC, sig=good, ts=ts, msg_id=None) is not None


def test_stale_and_future_timestamps_fail() -> None:
    """A timestamp more than five minutes away from now fails even with a valid signature (replay)."""
    now = time.time()
    for offset in (-SIGNATURE_TOLERANCE_S - 5, SIGNATURE_TOLERANCE_S + 5):
        ts = str(int(now + offset))
        reason = _verify(WHSEC, sig=standard_webhooks_signature(KEY, "msg_1", ts, BODY), ts=ts, now=now)
        assert reason is not None and "timestamp" in reason


def test_reasons_never_contain_the_key() -> None:
    """Failure reasons do not echo the signing token."""
    ts = str(int(time.time()))
    reason = _verify(WHSEC, sig="v1,bad", ts=ts)
    assert reason is not None and WHSEC not in reason and "0123456789abcdef" not in reason
