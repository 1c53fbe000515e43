"""Where a runner VM gets its runner: prebaked, or the pinned download, from upstream or a mirror."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from runner_fleet.cloudinit import RunnerBootConfig, render_user_data, runner_software, runner_versions
from runner_fleet.settings import SettingsError
from runner_fleet.settings.load import parse_pools
from tests.builders import make_pool, pool_dict

SHA = "ab" * 32


def _gitlab(**overrides: Any) -> Any:
    return make_pool("gl-aks", ("deploy",), forge="gitlab", github=None, gitlab={"group_id": 7}, **overrides)


def _runner_json(pool: Any) -> dict[str, Any]:
    text = render_user_data(RunnerBootConfig(pool.forge, "rf-x-0123456789", pool, "https://f.example", "s"))
    files = {entry["path"]: entry for entry in yaml.safe_load(text)["write_files"]}
    loaded: dict[str, Any] = json.loads(files["/etc/runner-fleet/runner.json"]["content"])
    return loaded


def test_default_download_is_the_pinned_upstream_build() -> None:
    """A pool without download settings gets the upstream URL and checksum pinned in versions.json."""
    pinned = runner_versions()["github_runner"]
    conf = _runner_json(make_pool())
    assert conf["runner_download_url"] == pinned["x64"]["url"]
    assert conf["runner_download_sha256"] == pinned["x64"]["sha256"]
    assert (conf["runner_version"], conf["job_user"], conf["runner_path"]) == (
        pinned["version"],
        "runner",
        pinned["install_dir"],
    )


def test_mirror_serves_the_same_pinned_file() -> None:
    """With mirror_url, the file comes from the mirror under its pinned path, with the same checksum."""
    pinned = runner_versions()["gitlab_runner"]["x64"]
    software = runner_software(_gitlab(runner_download={"mirror_url": "https://mirror.corp.example/ci/"}))
    assert software.download_url == f"https://mirror.corp.example/ci/{pinned['mirror_path']}"
    assert software.download_sha256 == pinned["sha256"]
    assert software.job_user == "gitlab-job"


def test_own_build_brings_its_own_checksum() -> None:
    """An explicit url comes with its own sha256, e.g. for an arm64 pool."""
    software = runner_software(
        make_pool(arch="arm64", runner_download={"url": "https://m.example/r.tgz", "sha256": SHA})
    )
    assert (software.download_url, software.download_sha256) == ("https://m.example/r.tgz", SHA)


def test_architecture_without_a_pinned_build_has_no_download() -> None:
    """An arm64 pool without its own download relies on a prebaked image: no URL is guessed."""
    conf = _runner_json(make_pool(arch="arm64"))
    assert conf["runner_download_url"] is None and conf["runner_download_sha256"] is None


@pytest.mark.parametrize(
    ("download", "message"),
    [
        ({"url": "https://m.example/r.tgz"}, "set url and sha256 together"),
        ({"url": "https://m.example/r.tgz", "sha256": SHA, "mirror_url": "https://m.example"}, "not both"),
        ({"mirror_url": "ftp://m.example"}, "runner_download.mirror_url"),
        ({"url": "https://m.example/r.tgz", "sha256": "xyz"}, "runner_download.sha256"),
    ],
)
def test_bad_download_settings_name_the_pool_and_field(download: dict[str, str], message: str) -> None:
    """Invalid download settings fail at start-up with the pool and the field named."""
    with pytest.raises(SettingsError) as caught:
        parse_pools([pool_dict(runner_download=download)])
    assert "pool 'aks-prod' (#1)" in str(caught.value)
    assert message in str(caught.value)


def test_existing_pools_stay_valid_without_download_settings() -> None:
    """The download settings are optional: a pool written before them still validates."""
    (pool,) = parse_pools([pool_dict()])
    assert pool.runner_download.mirror_url is None and pool.runner_download.url is None
