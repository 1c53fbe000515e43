"""versions.json is the one list of what a runner VM runs; the image and the templates read it from there."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from runner_fleet.cloudinit import images_dir, runner_versions
from runner_fleet.settings.load import parse_pools

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("github_runner", "gitlab_runner", "kubectl", "kubelogin", "helm", "docker", "azure_cli")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def _downloads() -> list[tuple[str, dict[str, Any]]]:
    return [
        (tool, entry["x64"])
        for tool, entry in runner_versions().items()
        if isinstance(entry, dict) and "x64" in entry
    ]


def test_every_tool_of_the_image_is_pinned() -> None:
    """The runners, Docker, kubectl, kubelogin, helm and the Azure CLI each have an exact version."""
    versions = runner_versions()
    for tool in TOOLS:
        assert _SEMVER.match(versions[tool]["version"]), tool


@pytest.mark.parametrize(
    ("tool", "build"), _downloads(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_every_download_has_an_https_url_and_a_sha256(tool: str, build: dict[str, Any]) -> None:
    """Each downloaded file is fetched over HTTPS from a URL naming its version, and pinned by SHA-256."""
    assert build["url"].startswith("https://"), tool
    assert runner_versions()[tool]["version"] in build["url"], tool
    assert re.fullmatch(r"[0-9a-f]{64}", build["sha256"]), tool


def test_runners_name_their_mirror_path_and_unprivileged_user() -> None:
    """Both runners say where a mirror keeps them and which non-root user runs their jobs."""
    for tool in ("github_runner", "gitlab_runner"):
        entry = runner_versions()[tool]
        assert entry["x64"]["mirror_path"].endswith(entry["x64"]["url"].rsplit("/", 1)[1])
        assert entry["version"] in entry["x64"]["mirror_path"]
        assert entry["job_user"] not in ("", "root")


def test_no_version_is_written_anywhere_but_versions_json() -> None:
    """The Packer template, its install script and the start scripts hold no version of their own."""
    pinned = {
        entry["version"]
        for entry in runner_versions().values()
        if isinstance(entry, dict) and "version" in entry
    }
    files = [*images_dir().glob("*/*.sh"), *images_dir().glob("packer/*")]
    assert files
    for path in files:
        text = path.read_text()
        for version in pinned:
            assert version not in text, f"{path.name} repeats version {version}"


def test_packer_template_reads_versions_json() -> None:
    """The Packer template installs from versions.json and hands it to the install script."""
    template = (images_dir() / "packer" / "runner-image.pkr.hcl").read_text()
    assert 'jsondecode(file("${abspath(path.root)}/../versions.json"))' in template
    assert "shared_image_gallery_destination" in template
    assert 'source "azure-arm"' in template
    install = (images_dir() / "packer" / "install.sh").read_text()
    for tool in TOOLS:
        assert f"pin {tool}." in install or f"fetch {tool} " in install, tool


def test_example_parameters_hold_valid_pools() -> None:
    """The pools in infra/main.bicepparam validate as runner-fleet pools."""
    text = (ROOT / "infra" / "main.bicepparam").read_text()
    match = re.search(r"param runnerPools = '''\n(.*?)\n'''", text, re.DOTALL)
    assert match is not None
    (pool,) = parse_pools(json.loads(match.group(1)))
    assert pool.azure.subnet_id.endswith("/virtualNetworks/vnet-rfprod-runners/subnets/snet-runners")


def test_runner_vms_get_no_managed_identity() -> None:
    """Nothing in infra/ gives runner VMs an identity; only the Function App has one."""
    identities = [
        path.name
        for path in (ROOT / "infra").rglob("*.bicep")
        if re.search(r"^\s*identity:", path.read_text(), re.MULTILINE)
    ]
    assert identities == ["service.bicep"]
