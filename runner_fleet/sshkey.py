"""Azure requires an SSH key on a Linux VM. We give it one whose private half nobody ever holds."""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@cache
def unusable_public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{text} runner-fleet-no-login"
