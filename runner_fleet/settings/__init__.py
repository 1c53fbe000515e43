"""Typed configuration: pools (what admins describe) and the service's own settings."""

from runner_fleet.settings.errors import SettingsError
from runner_fleet.settings.load import load_pools, load_service_settings
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings

__all__ = ["Pool", "ServiceSettings", "SettingsError", "load_pools", "load_service_settings"]
