"""A throw-away certificate authority for the HTTPS simulators.

The Azure SDKs insist on HTTPS for bearer-token authentication, so the ARM simulator serves TLS
with a leaf certificate for 127.0.0.1/localhost issued by a CA generated at start-up. Clients
trust it by being given the CA bundle path (azure-core's `connection_verify`).
"""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class LoopbackTls:
    server_context: ssl.SSLContext
    ca_bundle: Path


def make_loopback_tls(directory: Path | None = None) -> LoopbackTls:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_context)
    folder = directory or Path(tempfile.mkdtemp(prefix="runner-fleet-sim-tls-"))
    bundle = folder / "sim-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return LoopbackTls(server_context=server_context, ca_bundle=bundle)
