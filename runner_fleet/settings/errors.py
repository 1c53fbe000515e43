from __future__ import annotations


class SettingsError(Exception):
    """Configuration that cannot be used; the message names the pool and field, never a secret value."""
