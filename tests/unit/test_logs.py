import io
import json

from runner_fleet import logs


def _capture() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    return stream


def test_secret_keys_are_masked() -> None:
    """Values under secret-sounding keys never reach the log."""
    stream = _capture()
    logs.get_logger("t").info("x", webhook_secret="abc123456", jitconfig="eyJhbGciOi", token="tok-123456")
    line = json.loads(stream.getvalue())
    assert line["webhook_secret"] == line["jitconfig"] == line["token"] == logs.MASK


def test_registered_secrets_are_masked_anywhere() -> None:
    """A registered secret value is masked inside free text and exception messages."""
    logs.register_secret("very-private-jit-config-value")
    stream = _capture()
    log = logs.get_logger("t")
    log.info("x", detail="prefix very-private-jit-config-value suffix")
    try:
        raise RuntimeError("boom very-private-jit-config-value")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    assert "very-private-jit-config-value" not in text
    assert "prefix *** suffix" in text


def test_credential_shapes_are_masked_without_registration() -> None:
    """GitLab runner tokens, GitHub tokens and private keys are masked by their shape."""
    stream = _capture()
    logs.get_logger("t").info(
        "x",
        note="glrt-AbCdEf123456789 ghs_0123456789abcdefghij "
        "-----BEGIN RSA PRIVATE KEY-----x-----END RSA PRIVATE KEY-----",
    )
    text = stream.getvalue()
    for leaked in ("glrt-AbCdEf", "ghs_0123", "BEGIN RSA"):
        assert leaked not in text


def test_events_carry_context_fields() -> None:
    """Structured fields come through as JSON keys."""
    stream = _capture()
    logs.get_logger("t").info("vm.created", forge="github", pool="aks-prod", job_id=7, runner="rf-aks-prod-1")
    line = json.loads(stream.getvalue())
    assert (line["event"], line["forge"], line["pool"], line["job_id"]) == (
        "vm.created",
        "github",
        "aks-prod",
        7,
    )
