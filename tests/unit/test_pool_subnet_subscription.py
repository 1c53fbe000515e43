"""A pool's runner subnet must be in the subscription its VMs are created in."""

from __future__ import annotations

import pytest

from runner_fleet.settings import SettingsError
from runner_fleet.settings.load import parse_pools
from tests.builders import SUBNET, SUBSCRIPTION, pool_dict

OTHER = "11111111-2222-3333-4444-555555555555"


def test_a_subnet_in_another_subscription_is_refused_naming_pool_and_field() -> None:
    """The NIC of a VM is in the VM's subscription and can only join a VNet there: refused at start-up."""
    foreign_subnet = SUBNET.replace(SUBSCRIPTION, OTHER)
    with pytest.raises(SettingsError) as caught:
        parse_pools([pool_dict("aks-prod", azure={"subnet_id": foreign_subnet})])
    message = str(caught.value)
    assert "pool 'aks-prod' (#1): field 'azure.subnet_id': is in subscription " + OTHER in message
    assert SUBSCRIPTION in message


def test_the_subscription_comparison_ignores_case() -> None:
    """Subscription GUIDs compare case-insensitively, as ARM compares them."""
    upper_subnet = SUBNET.replace(SUBSCRIPTION, SUBSCRIPTION.upper())
    (pool,) = parse_pools([pool_dict(azure={"subnet_id": upper_subnet})])
    assert pool.azure.subnet_id == upper_subnet


def test_a_bad_subscription_reports_only_its_own_field() -> None:
    """A malformed subscription_id is reported once, not again as a mismatch on subnet_id."""
    with pytest.raises(SettingsError) as caught:
        parse_pools([pool_dict(azure={"subscription_id": "not-a-guid"})])
    assert "azure.subscription_id" in str(caught.value)
    assert "azure.subnet_id" not in str(caught.value)
