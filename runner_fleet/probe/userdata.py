"""A probe VM's cloud-config: probe.json (its targets; its presence is what makes the VM a probe) and
runner_images/common/probe.sh, which runcmd starts and which powers the VM off when it is done.

No secret goes in: nothing the VM could leak, and its user data may be read by anyone who can read
the VM. As for runners, the document is built as data and dumped by a YAML emitter, so no target name
can break out of it, and the script never has values spliced into it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import yaml

from runner_fleet.cloudinit import CUSTOM_DATA_LIMIT, SCRIPT_DIR, UserDataTooLarge, images_dir
from runner_fleet.probe.targets import ProbeTarget

PROBE_JSON = "/etc/runner-fleet/probe.json"
PROBE_SCRIPT = f"{SCRIPT_DIR}/probe.sh"
SCRIPT_SOURCE = "common/probe.sh"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so an admin can read the script in the user data."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def probe_json(probe_id: str, targets: Sequence[ProbeTarget]) -> str:
    return json.dumps({"probe": probe_id, "targets": [t.document() for t in targets]}, indent=2)


def render_probe_user_data(probe_id: str, targets: Sequence[ProbeTarget]) -> str:
    script = (images_dir() / SCRIPT_SOURCE).read_text(encoding="utf-8")
    document = {
        "write_files": [
            {"path": PROBE_JSON, "permissions": "0644", "content": probe_json(probe_id, targets)},
            {"path": PROBE_SCRIPT, "permissions": "0755", "content": script},
        ],
        "runcmd": [["/bin/bash", PROBE_SCRIPT]],
    }
    rendered = "#cloud-config\n" + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1000)
    if len(rendered.encode()) > CUSTOM_DATA_LIMIT:
        raise UserDataTooLarge(
            f"probe user data is {len(rendered.encode())} bytes; customData holds at most {CUSTOM_DATA_LIMIT}"
        )
    return rendered
