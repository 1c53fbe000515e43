"""What a VM costs an hour: the admin's price table first, then the shipped one, else unknown.

A table, shipped (`runner_fleet/cost/prices.yaml`) or the admin's (`RUNNER_PRICES` as JSON, or
`RUNNER_PRICES_FILE`, a YAML or JSON file), has one format:

    currency: USD            # ISO 4217, one per table; default USD
    as_of: "2025-01-01"      # optional: when the figures were true
    source: "..."            # optional: where they come from
    prices:
      westeurope:            # region, as Azure names it (`*`: any region, admin tables only)
        Standard_D2ads_v5: {on_demand: 0.121, spot: 0.0242}   # per hour, Linux
        Standard_B2s: 0.0487                                  # a number alone: on demand only

Lookup, for a size in a region and a priority (spot or on demand, priced apart): the admin's exact
region, the admin's `*`, the shipped table, and otherwise no price (`source` "unknown": a cost is
never guessed). An admin table in another currency than the shipped one (USD) replaces it: a size the
admin did not price then has no cost, rather than a dollar figure summed with euros.
Sizes and regions compare case-insensitively. Errors name the entry and the setting, at start-up.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from runner_fleet.settings.errors import SettingsError
from runner_fleet.settings.service import ServiceSettings

PriceSource = Literal["admin", "shipped", "unknown"]
SHIPPED_FILE = "prices.yaml"
ANY_REGION = "*"
DEFAULT_CURRENCY = "USD"

_SIZE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_REGION = re.compile(r"^[a-z0-9]{2,40}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PRIORITIES = ("on_demand", "spot")


class PriceTableError(ValueError):
    """A price table that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class HourlyPrice:
    """What one hour of a VM costs, where the figure comes from; `per_hour` None when unknown."""

    per_hour: float | None
    currency: str | None
    source: PriceSource

    def cost(self, vm_seconds: float) -> float | None:
        """The cost of `vm_seconds` of VM time, rounded to a millionth; None without a price."""
        if self.per_hour is None:
            return None
        return round(max(vm_seconds, 0.0) / 3600.0 * self.per_hour, 6)


UNKNOWN = HourlyPrice(None, None, "unknown")


@dataclass(frozen=True)
class PriceTable:
    currency: str
    # (region, size), both casefolded -> {"on_demand": price, "spot": price}, either may be absent
    entries: Mapping[tuple[str, str], Mapping[str, float]]
    as_of: str | None = None
    source: str | None = None

    def per_hour(self, size: str, region: str, *, spot: bool) -> float | None:
        priority = "spot" if spot else "on_demand"
        for where in (region.casefold(), ANY_REGION):
            entry = self.entries.get((where, size.casefold()))
            if entry is not None and priority in entry:
                return entry[priority]
        return None

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class PriceBook:
    """The admin's table (if any) over the shipped one; `shipped` None means the shipped file."""

    admin: PriceTable | None = None
    shipped: PriceTable | None = field(default=None)

    def shipped_table(self) -> PriceTable:
        return self.shipped if self.shipped is not None else shipped_prices()

    def hourly(self, size: str, region: str, *, spot: bool) -> HourlyPrice:
        if self.admin is not None:
            price = self.admin.per_hour(size, region, spot=spot)
            if price is not None:
                return HourlyPrice(price, self.admin.currency, "admin")
        shipped = self.shipped_table()
        if self.admin is None or self.admin.currency == shipped.currency:
            price = shipped.per_hour(size, region, spot=spot)
            if price is not None:
                return HourlyPrice(price, shipped.currency, "shipped")
        return UNKNOWN


@cache
def shipped_prices() -> PriceTable:
    """The table shipped with the package (read once per process)."""
    text = resources.files("runner_fleet.cost").joinpath(SHIPPED_FILE).read_text(encoding="utf-8")
    return parse_price_table(yaml.safe_load(text), allow_any_region=False)


def load_prices(settings: ServiceSettings) -> PriceBook:
    """The price book the settings describe; `SettingsError` naming the setting and entry if unusable."""
    if settings.runner_prices is not None and settings.runner_prices_file is not None:
        raise SettingsError("set RUNNER_PRICES or RUNNER_PRICES_FILE, not both")
    if settings.runner_prices is not None:
        origin = "RUNNER_PRICES"
        try:
            raw = json.loads(settings.runner_prices)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{origin} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    elif settings.runner_prices_file is not None:
        raw, origin = _read_file(settings.runner_prices_file)
    else:
        return PriceBook()
    try:
        return PriceBook(admin=parse_price_table(raw))
    except PriceTableError as exc:
        raise SettingsError(f"{origin}: {exc}") from None


def _read_file(path: Path) -> tuple[Any, str]:
    origin = f"RUNNER_PRICES_FILE {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{origin} cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text), origin
    except yaml.YAMLError as exc:
        raise SettingsError(f"{origin} is not valid YAML or JSON: {str(exc).splitlines()[0]}") from None


def parse_price_table(raw: Any, *, allow_any_region: bool = True) -> PriceTable:
    """A table from its parsed YAML/JSON; `PriceTableError` naming the first wrong entry."""
    if not isinstance(raw, dict):
        raise PriceTableError("must be an object with a 'prices' mapping (region -> size -> price)")
    unknown = sorted(set(raw) - {"currency", "as_of", "source", "prices"})
    if unknown:
        raise PriceTableError(f"unknown field {unknown[0]!r} (expected currency, as_of, source, prices)")
    currency = raw.get("currency", DEFAULT_CURRENCY)
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise PriceTableError("field 'currency': must be a three-letter ISO 4217 code such as USD or EUR")
    as_of, source = _optional_text(raw, "as_of"), _optional_text(raw, "source")
    regions = raw.get("prices")
    if not isinstance(regions, dict) or not regions:
        raise PriceTableError("field 'prices': must map regions to sizes to prices, and not be empty")
    entries: dict[tuple[str, str], dict[str, float]] = {}
    for region, sizes in regions.items():
        where = f"prices.{region}"
        if not isinstance(region, str) or not (
            _REGION.match(region) or (allow_any_region and region == ANY_REGION)
        ):
            raise PriceTableError(
                f"{where}: not a region name (lower-case letters and digits, e.g. westeurope"
                + (", or * for any region)" if allow_any_region else ")")
            )
        if not isinstance(sizes, dict) or not sizes:
            raise PriceTableError(f"{where}: must map VM sizes to prices, and not be empty")
        for size, price in sizes.items():
            here = f"{where}.{size}"
            if not isinstance(size, str) or not _SIZE.match(size):
                raise PriceTableError(f"{here}: not a VM size name (e.g. Standard_D2ads_v5)")
            key = (region.casefold(), size.casefold())
            if key in entries:
                raise PriceTableError(f"{here}: listed twice (sizes and regions ignore case)")
            entries[key] = _entry(price, here)
    return PriceTable(currency, entries, as_of, source)


def _entry(price: Any, where: str) -> dict[str, float]:
    if not isinstance(price, dict):
        return {"on_demand": _amount(price, where)}
    unknown = sorted(set(price) - set(_PRIORITIES), key=str)
    if unknown:
        raise PriceTableError(f"{where}: unknown field {unknown[0]!r} (expected on_demand, spot)")
    if not price:
        raise PriceTableError(f"{where}: give on_demand, spot or both")
    return {name: _amount(value, f"{where}.{name}") for name, value in price.items()}


def _amount(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PriceTableError(f"{where}: must be a price per hour, a number of at least 0")
    return float(value)


def _optional_text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, date):  # YAML reads an unquoted 2025-01-01 as a date
        return value.isoformat()
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise PriceTableError(f"field {name!r}: must be text")
    return str(value)
