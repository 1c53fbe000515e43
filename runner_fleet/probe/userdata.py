"""A probe VM's cloud-config: probe.json (its targets; its presence is what makes the VM a probe) and
runner_images/common/probe.sh, which runcmd starts and which powers the VM off when it is done.

No secret goes in: nothing the VM could leak, and its user data may be read by anyone who can read
the VM. As for runners, the document is built as data and dumped by a YAML emitter, so no target name
can break out of it, and the script never has values spliced into it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from runner_fleet.cloudinit import SCRIPT_DIR, render_cloud_config, script
from runner_fleet.probe.targets import ProbeTarget

PROBE_JSON = "/etc/runner-fleet/probe.json"
PROBE_SCRIPT = f"{SCRIPT_DIR}/probe.sh"
SCRIPT_SOURCE = "common/probe.sh"


def probe_json(probe_id: str, targets: Sequence[ProbeTarget]) -> str:
    return json.dumps({"probe": probe_id, "targets": [t.document() for t in targets]}, indent=2)


def render_probe_user_data(probe_id: str, targets: Sequence[ProbeTarget]) -> str:
    document = {
        "write_files": [
            {"path": PROBE_JSON, "permissions": "0644", "content": probe_json(probe_id, targets)},
            {"path": PROBE_SCRIPT, "permissions": "0755", "content": script(SCRIPT_SOURCE)},
        ],
        "runcmd": [["/bin/bash", PROBE_SCRIPT]],
    }
    return render_cloud_config(document, what="probe user data")
