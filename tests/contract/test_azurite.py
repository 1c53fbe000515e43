"""The Azurite process manager the storage tests rely on."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from tests.azurite import Azurite, AzuriteFailed, AzuriteNotInstalled, find_azurite


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_missing_binary_is_an_error_that_explains_npm_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without AZURITE_BIN, node_modules or PATH, finding Azurite fails and says to run npm install."""
    monkeypatch.delenv("AZURITE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AzuriteNotInstalled, match="npm install"):
        find_azurite(tmp_path)


def test_azurite_bin_takes_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AZURITE_BIN names the binary to run, ahead of node_modules and PATH."""
    binary = tmp_path / "my-azurite"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("AZURITE_BIN", str(binary))
    assert find_azurite() == str(binary)


def test_a_binary_that_exits_at_startup_fails_with_its_output(tmp_path: Path) -> None:
    """If the process dies before listening, starting fails and the error carries what it printed."""
    binary = tmp_path / "broken-azurite"
    binary.write_text("#!/bin/sh\necho 'cannot start: missing module' >&2\nexit 3\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(AzuriteFailed, match="cannot start: missing module"), Azurite(binary=str(binary)):
        pass


def test_azurite_listens_while_open_and_is_gone_after_exit() -> None:
    """Inside the context the queue and table ports accept connections; after it they do not."""
    with Azurite() as azurite:
        ports = (azurite.queue_port, azurite.table_port)
        assert all(_accepts(port) for port in ports)
        assert f"QueueEndpoint=http://127.0.0.1:{azurite.queue_port}/devstoreaccount1" in (
            azurite.connection_string
        )
    assert not any(_accepts(port) for port in ports)
