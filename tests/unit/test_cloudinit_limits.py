"""Rendered user data per forge and pool: within Azure's limit, safe with any value, secrets in one place."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
import yaml
from pydantic import ValidationError

from runner_fleet.cloudinit import CUSTOM_DATA_LIMIT, RunnerBootConfig, render_user_data
from runner_fleet.settings import Pool
from runner_fleet.settings.load import example_pools_text, parse_pools
from runner_fleet.settings.pool import MAX_PRIVATE_ENDPOINTS
from tests.builders import make_pool

ZONE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/"
    "Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
)


def _largest_realistic_config() -> RunnerBootConfig:
    # 60 labels of the longest length allowed, a long GHES URL and a JIT config twice the usual size.
    labels = tuple(f"l{index:02d}-" + "x" * 96 for index in range(60))
    pool = make_pool(
        "a-pool-name-of-20-ch",
        labels,
        github={"org": "o" * 39, "repositories": ["r" * 100], "repo_level": True},
        cluster={"api_server_fqdn": "a" * 63 + ".privatelink.westeurope.azmk8s.io", "dns_zone_id": ZONE},
        runner_download={"mirror_url": "https://" + "m" * 200 + ".example/runners"},
    )
    jit = base64.b64encode(b"j" * 6 * 1024).decode()
    return RunnerBootConfig("github", "rf-a-pool-name-of-20-ch-0123456789", pool, "https://" + "g" * 240, jit)


def test_largest_realistic_pool_stays_well_under_the_custom_data_limit() -> None:
    """The largest realistic pool renders to under half of Azure's 64 KiB customData limit."""
    size = len(render_user_data(_largest_realistic_config()).encode())
    assert size < CUSTOM_DATA_LIMIT // 2, size


def test_the_most_private_endpoints_a_pool_may_list_still_fit() -> None:
    """16 registries replicated to 3 regions each (64 long names) add under 10 KB to the largest pool."""
    names = tuple(
        f"acr{index:02d}{'r' * 45}" + suffix
        for index in range(MAX_PRIVATE_ENDPOINTS)
        for suffix in (
            ".azurecr.io",
            *(f".{region}.data.azurecr.io" for region in ("westeurope", "northeurope", "swedencentral")),
        )
    )
    largest = _largest_realistic_config()
    size = len(render_user_data(replace(largest, endpoints=names)).encode())
    assert size - len(render_user_data(largest).encode()) < 10 * 1024
    assert size < CUSTOM_DATA_LIMIT * 3 // 4, size


@pytest.mark.parametrize("pool", parse_pools(yaml.safe_load(example_pools_text())), ids=lambda p: p.name)
def test_every_example_pool_renders_for_its_forge(pool: Pool) -> None:
    """Each example pool (both forges) renders a cloud-config whose runner.json names its forge and pool."""
    text = render_user_data(
        RunnerBootConfig(pool.forge, f"rf-{pool.name}-0123456789", pool, "https://f.example", "s")
    )
    files = {entry["path"]: entry for entry in yaml.safe_load(text)["write_files"]}
    conf = json.loads(files["/etc/runner-fleet/runner.json"]["content"])
    assert (conf["forge"], conf["pool"]) == (pool.forge, pool.name)
    script = files["/opt/runner-fleet/start-runner.sh"]["content"]
    assert ("run-single" in script) == (pool.forge == "gitlab")


@pytest.mark.parametrize(
    "label", ["a b", "x\ny", "$(id)", "`id`", "a;b", "a'b", 'a"b', "- path: /etc/passwd", "a\\b", "#x"]
)
def test_labels_that_could_reach_a_shell_or_yaml_are_refused(label: str) -> None:
    """Labels with whitespace, quotes or shell and YAML syntax never get into a pool."""
    with pytest.raises(ValidationError, match="labels may hold only"):
        make_pool(labels=("ok", label))


def test_secret_appears_once_and_only_in_the_secret_file() -> None:
    """The secret is in runner.secret (base64) and nowhere else in the document."""
    secret = "jit-7f0c-secret-value-for-the-runner"
    text = render_user_data(RunnerBootConfig("github", "rf-aks-prod-0123456789", make_pool(), "u", secret))
    encoded = base64.b64encode(secret.encode()).decode()
    assert secret not in text
    assert text.count(encoded) == 1
    files = {entry["path"]: entry for entry in yaml.safe_load(text)["write_files"]}
    assert files["/etc/runner-fleet/runner.secret"]["content"] == encoded
    assert files["/etc/runner-fleet/runner.secret"]["permissions"] == "0600"
