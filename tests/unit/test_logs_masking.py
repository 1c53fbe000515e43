"""Every route by which a secret could reach a log line: nested values, encodings, libraries' loggers."""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from runner_fleet import logs, runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.settings import load_service_settings
from tests.fakes import FakeCompute


def _secret(prefix: str = "jit") -> str:
    """A fresh registered secret: the registry is process-wide, so each test masks its own."""
    value = f"{prefix}-{secrets.token_urlsafe(24)}"
    logs.register_secret(value)
    return value


@pytest.fixture
def stream() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    return stream


def _line(stream: io.StringIO) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(stream.getvalue().splitlines()[-1])
    return parsed


# -- values of structured events ----------------------------------------------------------------


def test_registered_secrets_are_masked_at_any_depth(stream: io.StringIO) -> None:
    """A secret inside dicts and lists nested in an event value is masked, the structure kept."""
    secret = _secret()
    logs.get_logger("t").info("x", detail={"a": [{"b": [f"x {secret} y"]}], "n": 3})
    assert secret not in stream.getvalue()
    assert _line(stream)["detail"] == {"a": [{"b": ["x *** y"]}], "n": 3}


def test_secret_sounding_keys_are_masked_at_any_depth(stream: io.StringIO) -> None:
    """Values under secret-sounding keys are masked inside nested dicts too, even if never registered."""
    logs.get_logger("t").info(
        "x", response={"headers": {"Authorization": "Bearer unregistered-1"}, "body": [{"token": "tk-2"}]}
    )
    text = stream.getvalue()
    assert "unregistered-1" not in text and "tk-2" not in text
    assert _line(stream)["response"]["headers"]["Authorization"] == logs.MASK


def test_bytes_values_are_decoded_and_masked(stream: io.StringIO) -> None:
    """A bytes value (a raw body) is logged as text with the secret masked."""
    secret = _secret()
    logs.get_logger("t").info("x", body=f'{{"config": "{secret}"}}'.encode(), raw=bytearray(b"\xff ok"))
    assert secret not in stream.getvalue()
    assert _line(stream)["body"] == '{"config": "***"}'
    assert _line(stream)["raw"] == "\\xff ok"


def test_exception_objects_passed_as_values_are_masked(stream: io.StringIO) -> None:
    """An exception passed as a field value (not as exc_info) has its text masked."""
    secret = _secret()
    logs.get_logger("t").warning(
        "x", error=RuntimeError(f"401 for token {secret}"), errors=[ValueError(secret)]
    )
    assert secret not in stream.getvalue()
    assert _line(stream)["error"] == "RuntimeError('401 for token ***')"


def test_arbitrary_objects_are_rendered_and_masked(stream: io.StringIO) -> None:
    """Any other object is rendered as its repr, masked."""
    secret = _secret()

    class Response:
        def __repr__(self) -> str:
            return f"<Response url=https://x/?t={secret}>"

    logs.get_logger("t").info("x", response=Response())
    assert secret not in stream.getvalue()


def test_self_referencing_values_do_not_break_logging(stream: io.StringIO) -> None:
    """A value that contains itself is rendered, not recursed into for ever."""
    loop: list[Any] = []
    loop.append(loop)
    logs.get_logger("t").info("x", loop=loop)
    assert _line(stream)["event"] == "x"


# -- encoded forms ------------------------------------------------------------------------------


def _recoverable(text: str, secret: str) -> bool:
    """Whether six consecutive bytes of `secret` can be decoded from any unmasked base64 run of `text`."""
    windows = {secret.encode()[i : i + 6] for i in range(len(secret) - 5)}
    for run in re.findall(r"[A-Za-z0-9+/_=-]{8,}", text.replace(logs.MASK, " ")):
        for start in range(4):
            chunk = run[start:].rstrip("=")
            chunk = chunk[: len(chunk) // 4 * 4]
            for altchars in (b"+/", b"-_"):
                try:
                    decoded = base64.b64decode(chunk, altchars=altchars)
                except binascii.Error:
                    continue
                if any(window in decoded for window in windows):
                    return True
    return False


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: base64.b64encode(b).decode(),
        lambda b: base64.b64encode(b).decode().rstrip("="),
        lambda b: base64.urlsafe_b64encode(b).decode(),
        lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
    ],
    ids=["standard", "standard-unpadded", "urlsafe", "urlsafe-unpadded"],
)
def test_base64_forms_of_a_registered_secret_are_masked(stream: io.StringIO, encode: Any) -> None:
    """A secret base64-encoded on its own, in either alphabet, with or without padding, is masked."""
    secret = _secret() + "?>~"  # characters whose encoding differs between the alphabets
    logs.register_secret(secret)
    encoded = encode(secret.encode())
    logs.get_logger("t").info("x", note=f"config={encoded};")
    assert encoded not in stream.getvalue()
    assert not _recoverable(stream.getvalue(), secret)


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
def test_a_secret_inside_a_larger_base64_text_is_masked(stream: io.StringIO, offset: int) -> None:
    """A JIT config inside base64 customData is masked whatever its offset in the encoded text."""
    secret = _secret()
    user_data = "#cloud-config\n" + "x" * offset + f"\nwrite_files: [{{content: '{secret}'}}]\n"
    custom_data = base64.b64encode(user_data.encode()).decode()
    assert _recoverable(custom_data, secret)
    logs.get_logger("t").info("x", custom_data=custom_data)
    assert not _recoverable(stream.getvalue(), secret)


def test_the_url_encoded_form_is_masked(stream: io.StringIO) -> None:
    """A secret with URL-reserved characters is masked in a query string too."""
    secret = _secret() + "+/="
    logs.register_secret(secret)
    quoted = secret.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    logs.get_logger("t").info("x", url=f"https://api.example/x?config={quoted}&a=1")
    assert _line(stream)["url"] == "https://api.example/x?config=***&a=1"


def test_many_registered_secrets_are_each_masked(stream: io.StringIO) -> None:
    """With hundreds of secrets registered (one per runner), each is still masked in every form."""
    many = [_secret(f"r{i}") for i in range(300)]
    logs.get_logger("t").info("x", first=many[0], last=base64.b64encode(many[-1].encode()).decode())
    assert _line(stream)["first"] == _line(stream)["last"] == logs.MASK


# -- the GitHub App private key -----------------------------------------------------------------


def _fake_pem() -> str:
    body = base64.b64encode(secrets.token_bytes(600)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----\n"


def test_the_github_app_private_key_is_registered_from_settings(stream: io.StringIO) -> None:
    """The App's private key from the settings is masked base64-encoded, escaped, or a line at a time."""
    pem = _fake_pem()
    settings = load_service_settings(
        {"GITHUB_WEBHOOK_SECRET": "webhook-secret-1", "GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": pem}
    )
    runtime.Runtime(settings, (), MemoryWorkQueue(), MemoryStateTable(), FakeCompute, {})
    a_line = pem.splitlines()[3]
    logs.get_logger("t").info(
        "x",
        as_setting=base64.b64encode(pem.encode()).decode(),
        escaped=pem.replace("\n", "\\n"),
        quoted=f"bad key line {a_line!r}",
    )
    text = stream.getvalue()
    assert a_line not in text and not _recoverable(text, pem)


# -- libraries that log through stdlib logging --------------------------------------------------


@pytest.fixture
def library_output() -> Iterator[io.StringIO]:
    """What a handler on the root logger (as the Functions worker installs) would write."""
    logs.configure("json", stream=io.StringIO())
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


LIBRARY_LOGGERS = [
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.storage.queue._queue_client",
    "github.Requester",
    "gitlab.client",
    "urllib3.connectionpool",
    "requests.sessions",
]


@pytest.mark.parametrize("name", LIBRARY_LOGGERS)
def test_library_records_are_masked(library_output: io.StringIO, name: str) -> None:
    """A library's record carrying a secret in its arguments, headers or body is masked."""
    secret = _secret()
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.DEBUG)  # as when a library's debug logging is turned on (PyGithub sets INFO)
    try:
        logger.debug(
            "GET https://api.example/runners?config=%s headers=%r body=%s",
            secret,
            {"Authorization": "Bearer unregistered-3", "Accept": "json"},
            base64.b64encode(secret.encode()),
        )
    finally:
        logger.setLevel(previous)
    text = library_output.getvalue()
    assert name in text
    assert secret not in text and "unregistered-3" not in text and not _recoverable(text, secret)


@pytest.mark.parametrize("name", LIBRARY_LOGGERS)
def test_library_exceptions_are_masked(library_output: io.StringIO, name: str) -> None:
    """A library logging an exception whose text holds a secret has the traceback masked."""
    secret = _secret()
    try:
        raise ConnectionError(f"https://x/?token={secret} refused")
    except ConnectionError:
        logging.getLogger(name).exception("request failed")
    text = library_output.getvalue()
    assert "ConnectionError" in text and "Traceback" in text
    assert secret not in text


def test_a_handler_on_the_librarys_own_logger_sees_masked_records() -> None:
    """A handler a library adds to its own logger (PyGithub's debug logging) gets masked records too."""
    logs.configure("json", stream=io.StringIO())
    secret = _secret()
    out = io.StringIO()
    logger = logging.getLogger("github")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    try:
        logger.warning("token %s", secret)
    finally:
        logger.removeHandler(handler)
    assert out.getvalue() == "token ***\n"


def test_records_whose_arguments_do_not_format_never_print_them(
    library_output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record whose arguments do not fit its message is logged without them, not dumped to stderr."""
    secret = _secret()
    two_placeholders = "retry %s of %s"
    logging.getLogger("urllib3.connectionpool").warning(two_placeholders, secret)
    assert secret not in library_output.getvalue() + capsys.readouterr().err
    assert "could not be formatted" in library_output.getvalue()


def test_the_services_own_credentials_outlive_any_number_of_runner_secrets() -> None:
    """A credential registered to keep is still masked after the registry has evicted its oldest entries."""
    from runner_fleet.logs import MASK, register_secret, scrub

    register_secret("service-webhook-secret-kept-1f2e", keep=True)
    for n in range(5000):  # more than the registry holds: every per-runner slot is replaced
        register_secret(f"per-runner-jit-config-{n:06d}")
    assert scrub("secret=service-webhook-secret-kept-1f2e") == f"secret={MASK}"
