"""runner_images/common/probe.sh, run for real by bash: name lookups are a stub on PATH, everything else
(python3, the TCP connects, the TLS handshakes against loopback servers) is real, and what it prints
is read back with the product's own console reader."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from runner_fleet.cloudinit import images_dir
from runner_fleet.probe.console import ConsoleReading, read_console
from runner_fleet.probe.targets import ProbeTarget
from runner_fleet.probe.userdata import probe_json
from tests.probe_contract import RESULT_KEYS

PROBE = "rf-aks-prod-probe-0a1b2c3d"
# getent ahostsv4 NAME: the address RF_TEST_HOSTS gives it ("name=address ..."), else exit 2 (NXDOMAIN).
GETENT = """[ "$1" = ahostsv4 ] || exit 2
for pair in $RF_TEST_HOSTS; do
  if [ "${pair%%=*}" = "$2" ]; then echo "${pair#*=}      STREAM $2"; exit 0; fi
done
exit 2"""
HOSTS = " ".join(f"{name}=127.0.0.1" for name in ("api.test", "forge.test", "evil.test", "closed.test"))


class TlsServer:
    """A loopback TLS server that completes handshakes and hangs up."""

    def __init__(self, ca: trustme.CA, *names: str) -> None:
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(self._context)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            try:
                with self._context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    def close(self) -> None:
        self._listener.close()


@dataclass
class Servers:
    trusted: TlsServer  # a certificate for forge.test from the CA the "image" trusts
    untrusted: TlsServer  # a certificate for api.test from a CA nobody trusts
    ca_bundle: Path
    closed_port: int


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    trusted_ca, other_ca = trustme.CA(), trustme.CA()
    bundle = tmp_path / "trusted.pem"
    trusted_ca.cert_pem.write_to_path(str(bundle))
    with socket.create_server(("127.0.0.1", 0)) as spare:
        closed = spare.getsockname()[1]
    found = Servers(TlsServer(trusted_ca, "forge.test"), TlsServer(other_ca, "api.test"), bundle, closed)
    yield found
    found.trusted.close()
    found.untrusted.close()


def run_probe(tmp_path: Path, servers: Servers, targets: list[ProbeTarget]) -> tuple[int, str, str, str]:
    """Run probe.sh on `targets`; its exit code, stdout, the console device's text and the calls made."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls.log"
    for name, body in {
        "getent": GETENT,
        "shutdown": f'echo "shutdown $*" >>"{calls}"',
        "poweroff": f'echo "poweroff $*" >>"{calls}"',
    }.items():
        path = stubs / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    conf = tmp_path / "probe.json"
    conf.write_text(probe_json(PROBE, targets))
    console = tmp_path / "ttyS0"
    console.write_text("")
    calls.write_text("")
    done = subprocess.run(
        ["/bin/bash", str(images_dir() / "common" / "probe.sh")],
        env={
            "PATH": f"{stubs}:{os.environ['PATH']}",
            "RF_PROBE_CONF": str(conf),
            "RF_CONSOLES": str(console),
            "RF_PROBE_STEP_S": "5",
            "RF_TEST_HOSTS": HOSTS,
            # The image's trust store: only the trusted CA.
            "SSL_CERT_FILE": str(servers.ca_bundle),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, console.read_text(), calls.read_text()


def test_each_target_is_resolved_connected_and_greeted_and_reported_on_the_console(
    tmp_path: Path, servers: Servers
) -> None:
    """start, one result per target, done; on stdout and the console alike; then the VM powers off."""
    targets = [
        ProbeTarget("api-server", "aks-prod", "api.test", servers.untrusted.port, "private"),
        ProbeTarget("forge", "forge.test", "forge.test", servers.trusted.port, "any"),
        ProbeTarget("forge", "evil.test", "evil.test", servers.untrusted.port, "any"),
        ProbeTarget("endpoint", "acr.test", "acr.test", 443, "private"),
        ProbeTarget("endpoint", "closed.test", "closed.test", servers.closed_port, "private"),
    ]
    code, stdout, console, calls = run_probe(tmp_path, servers, targets)
    assert code == 0, stdout
    reading: ConsoleReading = read_console(stdout, PROBE)
    assert reading == read_console(console, PROBE)
    assert reading.started == 5 and reading.done and len(reading.results) == 5
    api, forge, evil, acr, closed = reading.results
    # The API server's certificate is the cluster CA's: the handshake counts, unverified.
    assert (api.address, api.scope, api.tls) == ("127.0.0.1", "private", "ok")
    assert api.tls_detail is not None and "certificate not verified" in api.tls_detail
    assert api.connect_ms is not None and api.connect_ms >= 0
    assert (forge.tls, forge.tls_detail is not None and "certificate verified" in forge.tls_detail) == (
        "ok",
        True,
    )
    assert evil.tls == "failed" and evil.tls_detail is not None and evil.tls_detail.startswith("certificate:")
    assert acr.address is None and acr.resolve_error == "does not resolve (no such name, or no A record)"
    assert (
        closed.connect_ms is None and closed.connect_error is not None and "refused" in closed.connect_error
    )
    assert calls.startswith("shutdown -h now")


def test_every_line_is_one_json_object_after_the_prefix(tmp_path: Path, servers: Servers) -> None:
    """The contract's three kinds of line, each parseable on its own, with the contract's keys."""
    targets = [ProbeTarget("forge", "forge.test", "forge.test", servers.trusted.port, "any")]
    _, stdout, _, _ = run_probe(tmp_path, servers, targets)
    lines = [line for line in stdout.splitlines() if line.startswith("runner-fleet-probe: ")]
    kinds = [line.split(" ", 2)[1] for line in lines]
    assert kinds == ["start", "result", "done"]
    result = json.loads(lines[1].split(" ", 2)[2])
    assert list(result) == list(RESULT_KEYS)


def test_a_missing_probe_json_is_said_on_the_console_and_the_vm_still_powers_off(
    tmp_path: Path, servers: Servers
) -> None:
    """No configuration: an error line, no start, power off."""
    _, _, _, _ = run_probe(tmp_path, servers, [])
    (tmp_path / "probe.json").unlink()
    done = subprocess.run(
        ["/bin/bash", str(images_dir() / "common" / "probe.sh")],
        env={
            "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
            "RF_PROBE_CONF": str(tmp_path / "probe.json"),
            "RF_CONSOLES": str(tmp_path / "ttyS0"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "runner-fleet-probe: error" in done.stdout and "start" not in done.stdout
    assert "shutdown -h now" in (tmp_path / "calls.log").read_text()
