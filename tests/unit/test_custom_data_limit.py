"""customData holds at most 65,535 bytes of user data (decoded); the renderer refuses one byte more."""

from __future__ import annotations

import base64

import pytest

from runner_fleet.cloudinit import (
    CUSTOM_DATA_LIMIT,
    RunnerBootConfig,
    UserDataTooLarge,
    render_user_data,
    to_custom_data,
)
from tests.builders import make_pool

# Azure: "The maximum length of the binary array is 65535 bytes", checked on the base64 text as
# "a maximum length of 87380 characters".
AZURE_DECODED_LIMIT = 65535
AZURE_BASE64_LIMIT = 87380


def _config(url_padding: int, secret: str) -> RunnerBootConfig:
    url = "https://" + "g" * url_padding + ".example"
    return RunnerBootConfig("github", "rf-aks-prod-0123456789", make_pool(), url, secret)


def _size(url_padding: int, secret: str) -> int:
    return len(render_user_data(_config(url_padding, secret)).encode())


def test_the_limit_is_azures() -> None:
    """The limit is Azure's 65,535 bytes, whose base64 is exactly ARM's 87,380 characters."""
    assert CUSTOM_DATA_LIMIT == AZURE_DECODED_LIMIT
    assert len(base64.b64encode(b"x" * CUSTOM_DATA_LIMIT)) == AZURE_BASE64_LIMIT
    assert len(base64.b64encode(b"x" * (CUSTOM_DATA_LIMIT + 1))) > AZURE_BASE64_LIMIT


@pytest.fixture(scope="module")
def near_limit() -> tuple[str, int]:
    """A secret and the URL padding that make the rendered user data exactly the limit."""
    empty = _size(0, "")
    secret = "s" * ((CUSTOM_DATA_LIMIT - empty - 2000) * 3 // 4)
    padding = CUSTOM_DATA_LIMIT - _size(0, secret)
    assert padding > 0 and _size(padding, secret) == CUSTOM_DATA_LIMIT  # one URL byte is one byte
    return secret, padding


def test_user_data_of_exactly_the_limit_is_accepted(near_limit: tuple[str, int]) -> None:
    """User data of exactly 65,535 bytes renders, and its customData is within ARM's 87,380 characters."""
    secret, padding = near_limit
    text = render_user_data(_config(padding, secret))
    assert len(text.encode()) == CUSTOM_DATA_LIMIT
    assert len(to_custom_data(text)) <= AZURE_BASE64_LIMIT


def test_one_byte_over_the_limit_is_refused(near_limit: tuple[str, int]) -> None:
    """User data of 65,536 bytes is refused before any VM is created, naming both sizes."""
    secret, padding = near_limit
    with pytest.raises(
        UserDataTooLarge, match=f"is {CUSTOM_DATA_LIMIT + 1} bytes.*{CUSTOM_DATA_LIMIT} bytes"
    ):
        render_user_data(_config(padding + 1, secret))
