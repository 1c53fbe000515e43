"""Runs the Azurite storage emulator (the npm package from package.json) for the tests.

Each instance listens on free loopback ports and keeps everything in memory, so test sessions
never share state. A missing binary is an error, not a skip: the storage adapters must be tested.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent

ACCOUNT = "devstoreaccount1"
# The emulator's well-known key, published in its documentation; it protects nothing.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_HOST = "127.0.0.1"
_PORT_ATTEMPTS = 3


class AzuriteNotInstalled(RuntimeError):
    """The Azurite binary is missing."""


class AzuriteFailed(RuntimeError):
    """Azurite exited or did not start listening in time."""


def find_azurite(repo_root: Path = REPO_ROOT) -> str:
    """`AZURITE_BIN`, else the repository's node_modules, else `azurite` on PATH."""
    configured = os.environ.get("AZURITE_BIN")
    if configured:
        if not os.access(configured, os.X_OK):
            raise AzuriteNotInstalled(f"AZURITE_BIN={configured} is not an executable file")
        return configured
    local = repo_root / "node_modules" / ".bin" / "azurite"
    if os.access(local, os.X_OK):
        return str(local)
    on_path = shutil.which("azurite")
    if on_path:
        return on_path
    raise AzuriteNotInstalled(
        "the Azurite storage emulator is not installed; run `npm install --no-audit --no-fund` in "
        f"{repo_root} (it installs the version pinned in package.json), or set AZURITE_BIN"
    )


def _free_ports(count: int) -> list[int]:
    # Held open together so the kernel hands out distinct ports; a race with another process
    # grabbing one before Azurite binds it is caught by the retry in `Azurite.start`.
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((_HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class Azurite:
    """A private Azurite process: `with Azurite() as azurite: azurite.connection_string`."""

    def __init__(self, *, binary: str | None = None, startup_timeout_s: float = 30.0) -> None:
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._output: IO[bytes] | None = None
        self.blob_port = self.queue_port = self.table_port = 0

    @property
    def queue_endpoint(self) -> str:
        return f"http://{_HOST}:{self.queue_port}/{ACCOUNT}"

    @property
    def table_endpoint(self) -> str:
        return f"http://{_HOST}:{self.table_port}/{ACCOUNT}"

    @property
    def blob_endpoint(self) -> str:
        return f"http://{_HOST}:{self.blob_port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        if self._process is None:
            raise RuntimeError("Azurite is not running")
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )

    def start(self) -> None:
        binary = self._binary or find_azurite()
        # Azurite writes nothing with in-memory persistence, but a private working directory
        # guarantees it cannot litter the repository if that ever changes.
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                if self._launch(binary):
                    return
                output = self._stop_process()
                if "EADDRINUSE" not in output or attempt == _PORT_ATTEMPTS:
                    raise AzuriteFailed(f"Azurite ({binary}) exited during startup. Its output:\n{output}")
        except BaseException:
            self.stop()
            raise

    def _launch(self, binary: str) -> bool:
        """Start Azurite; True once its queue and table ports accept connections, False if it exited."""
        assert self._workdir is not None
        self.blob_port, self.queue_port, self.table_port = _free_ports(3)
        self._output = tempfile.TemporaryFile(dir=self._workdir.name)  # noqa: SIM115 - closed by _stop_process
        args = [
            binary,
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
            *("--blobHost", _HOST, "--blobPort", str(self.blob_port)),
            *("--queueHost", _HOST, "--queuePort", str(self.queue_port)),
            *("--tableHost", _HOST, "--tablePort", str(self.table_port)),
        ]
        self._process = subprocess.Popen(
            args,
            cwd=self._workdir.name,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if _accepts(self.queue_port) and _accepts(self.table_port):
                # Another process may hold a port we picked; then Azurite is the one that exits.
                time.sleep(0.05)
                return self._process.poll() is None
            time.sleep(0.05)
        output = self._stop_process()
        raise AzuriteFailed(
            f"Azurite ({binary}) did not accept connections on ports {self.queue_port} (queue) and "
            f"{self.table_port} (table) within {self._startup_timeout_s:.0f} s. Its output:\n{output}"
        )

    def _stop_process(self) -> str:
        """Stop the process (if any) and return what it printed."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        output, self._output = self._output, None
        if output is None:
            return ""
        with output:
            output.seek(0)
            return output.read().decode(errors="replace").strip() or "(nothing)"

    def stop(self) -> None:
        self._stop_process()
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            workdir.cleanup()

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def azurite_session() -> Iterator[Azurite]:
    """One Azurite for a whole pytest session: `yield from azurite_session()` in a session fixture."""
    with Azurite() as azurite:
        yield azurite
