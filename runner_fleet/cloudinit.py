"""Render a runner VM's cloud-init user data.

The cloud-config is built as data and dumped with a YAML emitter, so labels, names and URLs are
quoted by the emitter and cannot break out of the document; the shell scripts are static files from
`runner_images/` that read runner.json and never have values spliced into them. What the VM runs,
and at which version, comes from `runner_images/versions.json`, the list the Packer image is built from.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from runner_fleet.forges import Forge
from runner_fleet.settings.pool import Pool

# osProfile.customData "is decoded to a binary array ... The maximum length of the binary array is
# 65535 bytes" (Compute REST API; ARM checks it as at most 87380 base64 characters, the same limit).
CUSTOM_DATA_LIMIT = 65535
CONF_PATH = "/etc/runner-fleet/runner.json"
SECRET_PATH = "/etc/runner-fleet/runner.secret"  # noqa: S105 - a path, not a secret
SCRIPT_DIR = "/opt/runner-fleet"
VERSIONS_FILE = "versions.json"
# versions.json names the runner software by these keys, per forge.
_SOFTWARE = {"github": "github_runner", "gitlab": "gitlab_runner"}
_INSTALL_KEYS = ("install_dir", "install_path")


class UserDataTooLarge(ValueError):
    pass


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (the scripts, runner.json) as literal blocks, so an admin can read them.

    The emitter still falls back to a quoted scalar whenever a block could not hold the text exactly.
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _represent_str)


def images_dir() -> Path:
    override = os.environ.get("RUNNER_IMAGES_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "runner_images"


@cache
def script(relative: str) -> str:
    """A file of runner_images (a script, versions.json), read once."""
    return (images_dir() / relative).read_text(encoding="utf-8")


def render_cloud_config(document: Mapping[str, Any], *, what: str = "user data") -> str:
    """`document` as #cloud-config, its multi-line strings readable; UserDataTooLarge when it would not
    fit Azure's customData."""
    rendered = "#cloud-config\n" + yaml.dump(document, Dumper=_ReadableDumper, sort_keys=False, width=1000)
    if len(rendered.encode()) > CUSTOM_DATA_LIMIT:
        raise UserDataTooLarge(
            f"{what} is {len(rendered.encode())} bytes; Azure's customData holds at most "
            f"{CUSTOM_DATA_LIMIT} bytes (before base64)"
        )
    return rendered


@cache
def runner_versions() -> dict[str, Any]:
    """`runner_images/versions.json`: what a runner VM runs, at which versions."""
    loaded: dict[str, Any] = json.loads(script(VERSIONS_FILE))
    return loaded


@dataclass(frozen=True)
class RunnerSoftware:
    """The runner a VM of a pool runs: who runs it, where it lives, and where to fetch it if absent."""

    version: str
    job_user: str  # who runs the jobs; on GitHub also the runner, on GitLab never the runner (root)
    path: str
    download_url: str | None
    download_sha256: str | None


def runner_software(pool: Pool) -> RunnerSoftware:
    entry = runner_versions()[_SOFTWARE[pool.forge]]
    path = next(str(entry[key]) for key in _INSTALL_KEYS if key in entry)
    override = pool.runner_download
    build = entry.get(pool.arch)
    if override.url is not None:
        url, sha256 = override.url, override.sha256
    elif build is None:
        # No pinned build for this architecture: only a prebaked image can serve the pool.
        url, sha256 = None, None
    elif override.mirror_url is not None:
        url, sha256 = f"{override.mirror_url.rstrip('/')}/{build['mirror_path']}", build["sha256"]
    else:
        url, sha256 = build["url"], build["sha256"]
    return RunnerSoftware(
        version=str(entry["version"]),
        job_user=str(entry["job_user"]),
        path=path,
        download_url=url,
        download_sha256=sha256,
    )


@dataclass(frozen=True)
class RunnerBootConfig:
    forge: Forge
    runner_name: str
    pool: Pool
    forge_url: str
    secret: str
    # A warm runner waits for whichever job comes, until the reconciler retires it (at the latest
    # at the pool's max lifetime); a runner made for a job gives up after the pool's idle timeout.
    warm: bool = False
    # DNS names of the private endpoints the pool's jobs use (the preflight's report): the VM checks
    # each resolves to a private address and answers on TCP 443 before its runner registers.
    endpoints: tuple[str, ...] = ()

    @property
    def wait_timeout_s(self) -> int:
        """How long a runner waits for a job before giving up (GitLab's `run-single --wait-timeout`)."""
        limits = self.pool.limits
        return limits.max_lifetime_s if self.warm else limits.idle_timeout_s

    def runner_json(self) -> str:
        cluster = self.pool.cluster
        api_server = (
            {"fqdn": cluster.api_server_fqdn, "port": 443} if cluster and cluster.api_server_fqdn else None
        )
        software = runner_software(self.pool)
        return json.dumps(
            {
                "forge": self.forge,
                "runner_name": self.runner_name,
                "pool": self.pool.name,
                "labels": list(self.pool.runner_labels),
                "forge_url": self.forge_url,
                "api_server": api_server,
                "endpoints": [{"fqdn": fqdn, "port": 443} for fqdn in self.endpoints],
                "wait_timeout_s": self.wait_timeout_s,
                "job_user": software.job_user,
                "runner_path": software.path,
                "runner_version": software.version,
                "runner_download_url": software.download_url,
                "runner_download_sha256": software.download_sha256,
            },
            indent=2,
            sort_keys=True,
        )


# Besides the start script, what each forge's runner needs on the VM (name, mode).
_FORGE_FILES = {"github": (), "gitlab": (("gitlab-executor.sh", "0755"),)}


def render_user_data(config: RunnerBootConfig) -> str:
    start_script = f"{config.forge}/start-runner.sh"
    extra = [
        {"path": f"{SCRIPT_DIR}/{name}", "permissions": mode, "content": script(f"{config.forge}/{name}")}
        for name, mode in _FORGE_FILES[config.forge]
    ]
    document = {
        "write_files": [
            {"path": CONF_PATH, "permissions": "0644", "content": config.runner_json()},
            {
                "path": SECRET_PATH,
                "permissions": "0600",
                "encoding": "b64",
                "content": base64.b64encode(config.secret.encode()).decode(),
            },
            {
                "path": f"{SCRIPT_DIR}/runner-lib.sh",
                "permissions": "0644",
                "content": script("common/runner-lib.sh"),
            },
            {
                "path": f"{SCRIPT_DIR}/start-runner.sh",
                "permissions": "0755",
                "content": script(start_script),
            },
            *extra,
        ],
        "runcmd": [["/bin/bash", f"{SCRIPT_DIR}/start-runner.sh"]],
    }
    return render_cloud_config(document)


def to_custom_data(user_data: str) -> str:
    return base64.b64encode(user_data.encode()).decode()
