"""VM prices: the admin's table over the shipped one, spot priced apart, never a guessed figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner_fleet.cost.prices import (
    UNKNOWN,
    HourlyPrice,
    PriceBook,
    PriceTableError,
    load_prices,
    parse_price_table,
    shipped_prices,
)
from runner_fleet.settings import SettingsError, load_service_settings


def _book(admin: dict[str, Any] | None) -> PriceBook:
    return PriceBook(admin=parse_price_table(admin) if admin is not None else None)


def test_the_shipped_table_is_dated_sourced_and_says_it_is_approximate() -> None:
    """The shipped table names its date, its source and that its figures are approximate, in USD."""
    table = shipped_prices()
    assert table.currency == "USD"
    assert table.as_of == "2025-01-01"
    assert table.source is not None and "approximate" in table.source
    text = (Path(__file__).parents[2] / "runner_fleet" / "cost" / "prices.yaml").read_text()
    assert "Not fetched" in text and "entered by hand" in text


def test_the_shipped_table_prices_every_size_the_project_uses_in_common_regions() -> None:
    """The example pools' sizes and common general-purpose ones have an on-demand price in each region."""
    book = PriceBook()
    sizes = ["Standard_D2ads_v5", "Standard_D2s_v5", "Standard_D4ads_v5", "Standard_F4s_v2", "Standard_B2s"]
    sizes += ["Standard_D4as_v5", "Standard_D8s_v5", "Standard_D2ds_v5", "Standard_B2ms"]
    regions = ["westeurope", "northeurope", "eastus", "eastus2", "westus2", "swedencentral", "uksouth"]
    for size in sizes:
        for region in regions:
            price = book.hourly(size, region, spot=False)
            assert price.source == "shipped" and price.per_hour is not None and price.per_hour > 0, (
                size,
                region,
            )


def test_spot_is_priced_apart_and_below_on_demand() -> None:
    """A spot VM takes the spot figure, lower than on demand; a size without spot pricing has no price."""
    book = PriceBook()
    on_demand = book.hourly("Standard_D2s_v5", "westeurope", spot=False)
    spot = book.hourly("Standard_D2s_v5", "westeurope", spot=True)
    assert spot.per_hour is not None and on_demand.per_hour is not None
    assert 0 < spot.per_hour < on_demand.per_hour
    assert book.hourly("Standard_B2s", "westeurope", spot=True) == UNKNOWN


def test_an_unknown_size_or_region_has_no_price_rather_than_a_guess() -> None:
    """A size or region in no table is `unknown`, with no figure and no currency."""
    book = PriceBook()
    assert book.hourly("Standard_NC4as_T4_v3", "westeurope", spot=False) == UNKNOWN
    assert book.hourly("Standard_D2s_v5", "australiaeast", spot=False) == UNKNOWN
    assert UNKNOWN.cost(3600) is None


def test_sizes_and_regions_compare_without_case() -> None:
    """Azure spells sizes in any case: standard_d2s_v5 and WestEurope find the entry."""
    assert PriceBook().hourly("standard_d2s_v5", "WestEurope", spot=False).source == "shipped"


def test_the_admin_table_comes_first_then_any_region_then_the_shipped_table() -> None:
    """Exact region, then `*`, then the shipped figure for what the admin did not price."""
    book = _book(
        {
            "prices": {
                "westeurope": {"Standard_D2s_v5": {"on_demand": 0.05, "spot": 0.01}},
                "*": {"Standard_D2s_v5": 0.07, "Standard_Custom_v9": 1.5},
            }
        }
    )
    assert book.hourly("Standard_D2s_v5", "westeurope", spot=False) == HourlyPrice(0.05, "USD", "admin")
    assert book.hourly("Standard_D2s_v5", "westeurope", spot=True) == HourlyPrice(0.01, "USD", "admin")
    assert book.hourly("Standard_D2s_v5", "eastus", spot=False) == HourlyPrice(0.07, "USD", "admin")
    assert book.hourly("Standard_Custom_v9", "uksouth", spot=False).per_hour == 1.5
    # `*` has no spot price for D2s_v5 in eastus: the shipped spot figure is used.
    assert book.hourly("Standard_D2s_v5", "eastus", spot=True).source == "shipped"


def test_an_admin_table_in_another_currency_replaces_the_shipped_one() -> None:
    """Euros are never mixed with the shipped dollars: what the admin did not price has no cost."""
    book = _book({"currency": "EUR", "prices": {"westeurope": {"Standard_D2ads_v5": 0.1}}})
    assert book.hourly("Standard_D2ads_v5", "westeurope", spot=False) == HourlyPrice(0.1, "EUR", "admin")
    assert book.hourly("Standard_D2s_v5", "westeurope", spot=False) == UNKNOWN


def test_cost_is_vm_hours_times_the_hourly_price() -> None:
    """Half an hour at 0.2 an hour costs 0.1; a negative duration costs nothing."""
    price = HourlyPrice(0.2, "USD", "admin")
    assert price.cost(1800) == pytest.approx(0.1)
    assert price.cost(90) == pytest.approx(0.005)
    assert price.cost(-5) == 0.0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "must be an object with a 'prices' mapping"),
        ({"prices": {}}, "field 'prices': must map regions"),
        ({"currency": "dollars", "prices": {"eastus": {"Standard_B2s": 1}}}, "field 'currency'"),
        ({"prices": {"West Europe": {"Standard_B2s": 1}}}, "prices.West Europe: not a region name"),
        ({"prices": {"eastus": {"D2 s v5": 1}}}, "prices.eastus.D2 s v5: not a VM size name"),
        (
            {"prices": {"eastus": {"Standard_B2s": -1}}},
            "prices.eastus.Standard_B2s: must be a price per hour",
        ),
        ({"prices": {"eastus": {"Standard_B2s": "cheap"}}}, "prices.eastus.Standard_B2s: must be a price"),
        (
            {"prices": {"eastus": {"Standard_D2s_v5": {"on_demand": 0.1, "spot": True}}}},
            "prices.eastus.Standard_D2s_v5.spot: must be a price per hour",
        ),
        (
            {"prices": {"eastus": {"Standard_D2s_v5": {"ondemand": 0.1}}}},
            "prices.eastus.Standard_D2s_v5: unknown field 'ondemand'",
        ),
        (
            {"prices": {"eastus": {"Standard_D2s_v5": 0.1, "standard_d2s_v5": 0.2}}},
            "prices.eastus.standard_d2s_v5: listed twice",
        ),
        ({"price": {}}, "unknown field 'price'"),
    ],
)
def test_a_wrong_entry_is_named(table: Any, message: str) -> None:
    """Each mistake in a price table is reported with the path of the entry that has it."""
    with pytest.raises(PriceTableError) as raised:
        parse_price_table(table)
    assert message in str(raised.value)


def test_runner_prices_is_read_and_checked_at_start(tmp_path: Path) -> None:
    """RUNNER_PRICES (JSON) and RUNNER_PRICES_FILE (YAML) load; a bad one fails naming setting and entry."""
    table = {"currency": "EUR", "prices": {"westeurope": {"Standard_D2ads_v5": {"on_demand": 0.11}}}}
    book = load_prices(load_service_settings({"RUNNER_PRICES": json.dumps(table)}))
    assert book.admin is not None and book.admin.currency == "EUR"
    path = tmp_path / "prices.yaml"
    path.write_text("as_of: 2026-10-01\nprices:\n  westeurope:\n    Standard_D2ads_v5: 0.09\n")
    book = load_prices(load_service_settings({"RUNNER_PRICES_FILE": str(path)}))
    assert book.admin is not None and book.admin.as_of == "2026-10-01"
    assert book.hourly("Standard_D2ads_v5", "westeurope", spot=False).per_hour == 0.09
    assert load_prices(load_service_settings({})).admin is None

    bad = {"prices": {"westeurope": {"Standard_D2ads_v5": {"on_demand": -1}}}}
    with pytest.raises(SettingsError) as raised:
        load_prices(load_service_settings({"RUNNER_PRICES": json.dumps(bad)}))
    assert str(raised.value) == (
        "RUNNER_PRICES: prices.westeurope.Standard_D2ads_v5.on_demand: "
        "must be a price per hour, a number of at least 0"
    )
    with pytest.raises(SettingsError, match="RUNNER_PRICES is not valid JSON"):
        load_prices(load_service_settings({"RUNNER_PRICES": "{nope"}))
    with pytest.raises(SettingsError, match="cannot be read"):
        load_prices(load_service_settings({"RUNNER_PRICES_FILE": str(tmp_path / "missing.yaml")}))
    with pytest.raises(SettingsError, match="not both"):
        load_prices(load_service_settings({"RUNNER_PRICES": "{}", "RUNNER_PRICES_FILE": str(path)}))


def test_the_start_up_check_refuses_a_bad_price_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function app's start-up check fails on a price table it could not use."""
    from runner_fleet import runtime
    from tests.builders import WEBHOOK_SECRET, pool_dict

    monkeypatch.setattr(runtime, "_current", None)
    for name in ("RUNNER_POOLS_FILE", "RUNNER_PRICES_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNNER_POOLS", json.dumps([pool_dict()]))
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", "token-for-tests")
    monkeypatch.setenv("RUNNER_PRICES", json.dumps({"prices": {"westeurope": {"Standard_B2s": "x"}}}))
    with pytest.raises(SettingsError, match=r"RUNNER_PRICES: prices\.westeurope\.Standard_B2s"):
        runtime.startup_check()
    monkeypatch.delenv("RUNNER_PRICES")
    runtime.startup_check()
