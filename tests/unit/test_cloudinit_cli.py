"""`runner-fleet cloud-init --pool NAME`: what an admin reads, with placeholder secrets."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from runner_fleet.cli import main
from runner_fleet.cli.cloud_init import PLACEHOLDER_SECRETS
from tests.builders import pool_dict

REAL_SECRET = "real-github-token-value-0f3a"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNNER_POOLS", "RUNNER_POOLS_FILE", "GITHUB_API_URL", "GITLAB_URL"):
        monkeypatch.delenv(name, raising=False)


def test_prints_the_pools_user_data_with_a_placeholder_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """The example GitLab pool's cloud-config is printed; its runner.secret holds the placeholder."""
    assert main(["cloud-init", "--example", "--pool", "gl-aks"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#cloud-config\n")
    files = {entry["path"]: entry for entry in yaml.safe_load(out)["write_files"]}
    secret = base64.b64decode(files["/etc/runner-fleet/runner.secret"]["content"]).decode()
    assert secret == PLACEHOLDER_SECRETS["gitlab"]
    assert json.loads(files["/etc/runner-fleet/runner.json"]["content"])["pool"] == "gl-aks"


def test_forge_url_follows_the_service_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Behind GitHub Enterprise Server, runner.json names that server's org; no credential is shown."""
    monkeypatch.setenv("GITHUB_API_URL", "https://ghes.corp.example/api/v3")
    monkeypatch.setenv("GITHUB_TOKEN", REAL_SECRET)
    monkeypatch.setenv("RUNNER_POOLS", json.dumps([pool_dict("aks-prod")]))
    assert main(["cloud-init", "--pool", "aks-prod"]) == 0
    captured = capsys.readouterr()
    files = {entry["path"]: entry for entry in yaml.safe_load(captured.out)["write_files"]}
    conf = json.loads(files["/etc/runner-fleet/runner.json"]["content"])
    assert conf["forge_url"] == "https://ghes.corp.example/example-org"
    assert REAL_SECRET not in captured.out + captured.err


def test_base64_is_the_custom_data_form(capsys: pytest.CaptureFixture[str]) -> None:
    """--base64 prints exactly what the VM's customData would hold."""
    assert main(["cloud-init", "--example", "--pool", "aks-prod", "--base64"]) == 0
    decoded = base64.b64decode(capsys.readouterr().out.strip()).decode()
    assert decoded.startswith("#cloud-config\n")


def test_unknown_pool_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown pool name exits 2 and lists the pools there are."""
    assert main(["cloud-init", "--example", "--pool", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no pool named 'nope' (pools: " in err and "aks-prod" in err and "gl-aks" in err
