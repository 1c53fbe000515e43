"""Render a runner VM's cloud-init user data.

The cloud-config is built as data and dumped with a YAML emitter, so labels, names and URLs are
quoted by the emitter and cannot break out of the document; the shell scripts are static files from
`runner_images/` that read runner.json and never have values spliced into them.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from runner_fleet.settings.pool import Pool

CUSTOM_DATA_LIMIT = 64 * 1024
CONF_PATH = "/etc/runner-fleet/runner.json"
SECRET_PATH = "/etc/runner-fleet/runner.secret"  # noqa: S105 - a path, not a secret
SCRIPT_DIR = "/opt/runner-fleet"


class UserDataTooLarge(ValueError):
    pass


def images_dir() -> Path:
    override = os.environ.get("RUNNER_IMAGES_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "runner_images"


@cache
def _script(relative: str) -> str:
    return (images_dir() / relative).read_text(encoding="utf-8")


@dataclass(frozen=True)
class RunnerBootConfig:
    forge: str
    runner_name: str
    pool: Pool
    forge_url: str
    secret: str

    @property
    def wait_timeout_s(self) -> int:
        """How long a runner waits for a job before giving up (GitLab's `run-single --wait-timeout`)."""
        return self.pool.limits.idle_timeout_s

    def runner_json(self) -> str:
        cluster = self.pool.cluster
        api_server = (
            {"fqdn": cluster.api_server_fqdn, "port": 443} if cluster and cluster.api_server_fqdn else None
        )
        return json.dumps(
            {
                "forge": self.forge,
                "runner_name": self.runner_name,
                "pool": self.pool.name,
                "labels": list(self.pool.runner_labels),
                "forge_url": self.forge_url,
                "api_server": api_server,
                "wait_timeout_s": self.wait_timeout_s,
            },
            sort_keys=True,
        )


def render_user_data(config: RunnerBootConfig) -> str:
    start_script = f"{config.forge}/start-runner.sh"
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
                "content": _script("common/runner-lib.sh"),
            },
            {
                "path": f"{SCRIPT_DIR}/start-runner.sh",
                "permissions": "0755",
                "content": _script(start_script),
            },
        ],
        "runcmd": [["/bin/bash", f"{SCRIPT_DIR}/start-runner.sh"]],
    }
    rendered = "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=1000)
    if len(rendered.encode()) > CUSTOM_DATA_LIMIT:
        raise UserDataTooLarge(
            f"user data is {len(rendered.encode())} bytes; Azure allows {CUSTOM_DATA_LIMIT}"
        )
    return rendered


def to_custom_data(user_data: str) -> str:
    return base64.b64encode(user_data.encode()).decode()
