import json
from pathlib import Path

import pytest

from runner_fleet.settings import SettingsError, load_pools, load_service_settings
from runner_fleet.settings.load import parse_pools
from tests.builders import make_pool, pool_dict

GOOD_ENV = {"GITHUB_WEBHOOK_SECRET": "s3cret-value", "GITHUB_TOKEN": "ghp_" + "a" * 36}


def _load(pools: object, **env: str) -> tuple[object, ...]:
    settings = load_service_settings({**GOOD_ENV, "RUNNER_POOLS": json.dumps(pools), **env})
    return load_pools(settings)


def test_valid_pools_load_in_order() -> None:
    """Pools from RUNNER_POOLS keep their configuration order."""
    pools = _load([pool_dict("aks-prod"), pool_dict("aks-dev", ("aks-dev",))])
    assert [p.name for p in pools] == ["aks-prod", "aks-dev"]  # type: ignore[attr-defined]


def test_error_names_the_pool_and_field() -> None:
    """A bad subnet ID is reported with the pool's name and the field's path."""
    bad = pool_dict("aks-prod", azure={"subnet_id": "/subscriptions/nope"})
    with pytest.raises(SettingsError, match=r"pool 'aks-prod' \(#1\): field 'azure.subnet_id'"):
        _load([bad])


def test_every_problem_is_reported_at_once() -> None:
    """Errors in two pools are listed together."""
    first = pool_dict("aks-prod", labels=())
    second = pool_dict("Bad_Name")
    with pytest.raises(SettingsError) as caught:
        _load([first, second])
    text = str(caught.value)
    assert "pool 'aks-prod' (#1): field 'labels'" in text
    assert "pool 'Bad_Name' (#2): field 'name'" in text


def test_unknown_fields_are_refused() -> None:
    """A misspelt field is an error, not silently ignored."""
    with pytest.raises(SettingsError, match=r"field 'limits\.max_runner'"):
        _load([pool_dict(limits={"max_runner": 3})])


def test_duplicate_pool_names_are_refused() -> None:
    """Two pools may not share a name."""
    with pytest.raises(SettingsError, match="used by more than one pool"):
        _load([pool_dict("aks-prod"), pool_dict("aks-prod")])


def test_forge_scope_must_match() -> None:
    """A github pool needs a github scope."""
    with pytest.raises(SettingsError, match="needs a 'github' scope"):
        _load([pool_dict(github=None)])


def test_cluster_needs_a_way_to_be_found() -> None:
    """A cluster block needs the AKS resource ID or the FQDN with its DNS zone."""
    with pytest.raises(SettingsError, match="field 'cluster'"):
        _load([pool_dict(cluster={"api_server_fqdn": "x.privatelink.westeurope.azmk8s.io"})])


def test_warm_runners_cannot_exceed_the_maximum() -> None:
    """warm > max_runners is refused."""
    with pytest.raises(SettingsError, match="warm cannot exceed max_runners"):
        _load([pool_dict(limits={"max_runners": 2, "warm": 3})])


def test_labels_that_could_reach_a_shell_are_refused() -> None:
    """Labels with shell metacharacters or spaces fail validation."""
    for label in ("a;rm -rf /", "$(id)", "two words", "back`tick`"):
        with pytest.raises(SettingsError, match="field 'labels'"):
            _load([pool_dict(labels=(label,))])


def test_missing_github_credentials_name_the_pool() -> None:
    """A GitHub pool without a webhook secret or API credentials fails naming the pool."""
    settings = load_service_settings({"RUNNER_POOLS": json.dumps([pool_dict("aks-prod")])})
    with pytest.raises(SettingsError) as caught:
        load_pools(settings)
    assert "pool 'aks-prod': GITHUB_WEBHOOK_SECRET is not set" in str(caught.value)
    assert "GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY, or GITHUB_TOKEN" in str(caught.value)


def test_errors_never_echo_secret_values() -> None:
    """A malformed setting's error shows the field, not the value."""
    secret_key = "-----BEGIN PRIVATE KEY-----abc"
    with pytest.raises(SettingsError) as caught:
        load_service_settings({"GITHUB_APP_ID": "not-a-number " + secret_key})
    assert "GITHUB_APP_ID" in str(caught.value) or "github_app_id" in str(caught.value)
    assert secret_key not in str(caught.value)


def test_pools_file_accepts_yaml(tmp_path: Path) -> None:
    """RUNNER_POOLS_FILE may be YAML."""
    path = tmp_path / "pools.yaml"
    path.write_text("pools:\n  - " + json.dumps(pool_dict("aks-prod")) + "\n")
    pools = load_pools(load_service_settings({**GOOD_ENV, "RUNNER_POOLS_FILE": str(path)}))
    assert pools[0].name == "aks-prod"


def test_unreadable_pools_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing pools file names the setting and the path."""
    with pytest.raises(SettingsError, match=r"RUNNER_POOLS_FILE .* cannot be read"):
        load_pools(load_service_settings({**GOOD_ENV, "RUNNER_POOLS_FILE": str(tmp_path / "nope.yaml")}))


def test_invalid_json_is_a_clear_error() -> None:
    """RUNNER_POOLS that is not JSON says so."""
    with pytest.raises(SettingsError, match="RUNNER_POOLS is not valid JSON"):
        load_pools(load_service_settings({**GOOD_ENV, "RUNNER_POOLS": "[{"}))


def test_both_sources_at_once_is_ambiguous(tmp_path: Path) -> None:
    """Setting RUNNER_POOLS and RUNNER_POOLS_FILE together is refused."""
    env = {**GOOD_ENV, "RUNNER_POOLS": "[]", "RUNNER_POOLS_FILE": str(tmp_path / "p.yaml")}
    with pytest.raises(SettingsError, match="not both"):
        load_pools(load_service_settings(env))


def test_no_pools_is_an_error_unless_the_example_is_asked_for() -> None:
    """Without configuration the service refuses to start; demo and simulate use the example set."""
    settings = load_service_settings(GOOD_ENV)
    with pytest.raises(SettingsError, match="no pools configured"):
        load_pools(settings)
    example = load_pools(settings, use_example=True, require_credentials=False)
    assert [p.name for p in example] == ["aks-prod", "aks-dev", "gl-aks", "aks-ops"]


def test_empty_list_is_refused() -> None:
    """An empty pool list is a configuration error."""
    with pytest.raises(SettingsError, match="non-empty list"):
        parse_pools([])


def test_runner_labels_include_implied_ones_once() -> None:
    """A pool's runner labels are the implied ones plus its own, without case duplicates."""
    pool = parse_pools([pool_dict(labels=("Linux", "aks-prod"))])[0]
    assert pool.runner_labels == ("self-hosted", "linux", "x64", "aks-prod")


def test_gitlab_pool_without_gitlab_settings_names_the_pool() -> None:
    """A GitLab pool without its GitLab settings fails, naming the pool and the missing settings."""
    gitlab_pool = pool_dict("gl-aks", forge="gitlab", github=None, gitlab={"group_id": 4})
    with pytest.raises(SettingsError) as caught:
        _load([gitlab_pool], GITLAB_URL="https://gitlab.example")
    assert "pool 'gl-aks': GITLAB_TOKEN, GITLAB_WEBHOOK_TOKEN not set" in str(caught.value)


def test_gitlab_scope_needs_exactly_one_of_group_or_project() -> None:
    """A GitLab scope with both or neither of group_id and project_id is refused."""
    for scope in ({"group_id": 4, "project_id": 5}, {}):
        with pytest.raises(SettingsError, match=r"field 'gitlab'"):
            _load([pool_dict("gl-aks", forge="gitlab", github=None, gitlab=scope)])


def test_gitlab_pools_default_to_protected_refs_and_half_an_hour() -> None:
    """A GitLab pool that says nothing serves only protected refs, with a 30-minute maximum job timeout."""
    pool = make_pool("gl-aks", forge="gitlab", github=None, gitlab={"group_id": 7})
    assert pool.gitlab is not None
    assert (pool.gitlab.access_level, pool.gitlab.maximum_timeout_s) == ("ref_protected", 1800)


def test_the_default_runner_group_is_refused_naming_the_pool_and_field() -> None:
    """An org-level pool in runner group 1 (Default), named or by default, fails naming the pool and field."""
    named = pool_dict(github={"runner_group_id": 1})
    unnamed = pool_dict()
    del unnamed["github"]["runner_group_id"]
    for pool in (named, unnamed):
        with pytest.raises(SettingsError, match=r"pool 'aks-prod' \(#1\): field 'github.runner_group_id'"):
            _load([pool])


def test_the_default_runner_group_is_allowed_when_said_explicitly() -> None:
    """allow_default_runner_group: true accepts group 1."""
    scope = {"org": "example-org", "runner_group_id": 1, "allow_default_runner_group": True}
    [pool] = _load([pool_dict(github=scope)])
    assert pool.github.runner_group_id == 1  # type: ignore[attr-defined]


def test_repository_level_runners_need_no_runner_group() -> None:
    """A repo_level pool registers on its one repository, where group 1 is the only one and is fine."""
    scope = {"org": "example-org", "runner_group_id": 1, "repositories": ["deploy"], "repo_level": True}
    assert _load([pool_dict(github=scope)])


def test_allowed_workflows_must_be_workflow_refs() -> None:
    """allowed_workflows take owner/repo/.github/workflows/<file>@<ref>; others fail naming the field."""
    good = "example-org/platform-deploy/.github/workflows/deploy.yml@refs/heads/main"
    assert _load([pool_dict(github={"allowed_workflows": [good]})])
    for bad in ("deploy.yml", "example-org/platform-deploy/.github/workflows/deploy.yml"):
        with pytest.raises(SettingsError, match=r"field 'github.allowed_workflows'"):
            _load([pool_dict(github={"allowed_workflows": [bad]})])


def test_public_repositories_are_off_unless_a_pool_opts_in() -> None:
    """A GitHub pool serves no public repository unless allow_public_repositories is set."""
    assert make_pool().github.allow_public_repositories is False  # type: ignore[union-attr]
