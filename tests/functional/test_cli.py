"""The `runner-fleet` command as a user runs it: exit codes, messages, and what it never prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.builders import pool_dict

SECRET = "cli-test-secret-value-91"


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_POOLS", "GITHUB_", "GITLAB_"))}
    return subprocess.run(
        [sys.executable, "-m", "runner_fleet.cli", *args],
        capture_output=True,
        text=True,
        env=base | env,
        timeout=60,
        check=False,
    )


def test_pools_without_configuration_is_a_usage_error() -> None:
    """No pools configured: exit 2 and say which settings to set."""
    result = _cli("pools")
    assert result.returncode == 2
    assert "RUNNER_POOLS" in result.stderr


def test_invalid_pool_names_the_pool_and_field() -> None:
    """A bad pool fails with exit 2 and a message naming the pool and the field."""
    bad = pool_dict("aks-prod", azure={"vm_sizes": []})
    result = _cli("pools", RUNNER_POOLS=json.dumps([bad]), GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=SECRET)
    assert result.returncode == 2
    assert "pool 'aks-prod' (#1): field 'azure.vm_sizes'" in result.stderr


def test_pools_json_masks_credentials() -> None:
    """`pools --json` lists the pools and shows credentials only as set or missing."""
    result = _cli("pools", "--json", "--example", GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=SECRET)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [pool["name"] for pool in document["pools"]] == ["aks-prod", "aks-dev", "gl-aks", "aks-ops"]
    assert document["credentials"]["GITHUB_WEBHOOK_SECRET"] == "set (***)"
    assert document["credentials"]["GITLAB_TOKEN"] == "missing"
    assert SECRET not in result.stdout + result.stderr


def test_pools_table_is_readable() -> None:
    """The human form names each pool, its labels and its subnet."""
    result = _cli("pools", "--example", GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=SECRET)
    assert result.returncode == 0, result.stderr
    assert "pool aks-prod (github)" in result.stdout
    assert "self-hosted, linux, x64, aks-prod" in result.stdout
    assert SECRET not in result.stdout


def test_pools_shows_the_warm_target_in_force() -> None:
    """A scheduled pool shows its target now and the next change; `--json` gives the same as data."""
    window = {"start": "0 0 * * *", "end": "0 12 * * *", "timezone": "UTC", "warm": 2}
    pools = json.dumps([pool_dict(limits={"max_runners": 4, "warm": {"schedule": [window], "otherwise": 1}})])
    env = {"RUNNER_POOLS": pools, "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": SECRET}
    table = _cli("pools", COLUMNS="250", **env)
    assert table.returncode == 0, table.stderr
    assert re.search(
        r"warm\s+(2 now \(window 0 0 \* \* \* \.\. 0 12 \* \* \* UTC\)|1 now \(no window)", table.stdout
    )
    assert re.search(r"; [12] from \d{4}-\d\d-\d\d (00|12):00 UTC", table.stdout)
    document = json.loads(_cli("pools", "--json", **env).stdout)
    warm = document["pools"][0]["warm_now"]
    assert (warm["mode"], {warm["target"], warm["next_target"]}) == ("schedule", {1, 2})
    assert warm["next_change_at"].endswith(("T00:00:00+00:00", "T12:00:00+00:00"))


def test_unknown_command_is_a_usage_error() -> None:
    """An unknown command exits 2."""
    assert _cli("launch-rockets").returncode == 2
