"""Request bodies and user data shaped like the ones runner-fleet sends, for exercising the
simulator from tests and demos without the service."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from simulator.arm.guest.cloudinit import RUNNER_JSON, RUNNER_SECRET, START_SCRIPT
from simulator.arm.topology import default_subnet_id
from simulator.github.jitconfig import JitConfig, encode_jit_config

SAMPLE_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2VrZXlmb3J0ZXN0aW5nb25seQ runner@fleet"


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def runner_vm_body(
    name: str,
    *,
    size: str = "Standard_D2ads_v5",
    location: str = "westeurope",
    subnet_id: str | None = None,
    nic_delete_option: str = "Delete",
    os_disk_delete_option: str = "Delete",
    ephemeral: bool = True,
    placement: str | None = "ResourceDisk",
    custom_data: str | None = None,
    priority: str | None = None,
    public_ip: bool = False,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON of the one PUT that creates a runner VM: inline NIC, no public IP, ephemeral OS
    disk, cloud-init in customData, boot diagnostics on managed storage."""
    os_disk: dict[str, Any] = {"createOption": "FromImage", "deleteOption": os_disk_delete_option}
    if ephemeral:
        os_disk["caching"] = "ReadOnly"
        os_disk["diffDiskSettings"] = {"option": "Local", **({"placement": placement} if placement else {})}
    else:
        os_disk["managedDisk"] = {"storageAccountType": "StandardSSD_LRS"}
    ip_config: dict[str, Any] = {
        "name": "ipconfig1",
        "properties": {"subnet": {"id": subnet_id or default_subnet_id()}},
    }
    if public_ip:
        ip_config["properties"]["publicIPAddressConfiguration"] = {
            "name": f"{name}-pip",
            "properties": {"deleteOption": "Delete"},
            "sku": {"name": "Standard"},
        }
    properties: dict[str, Any] = {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {
            "imageReference": {
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "latest",
            },
            "osDisk": os_disk,
        },
        "osProfile": {
            "computerName": name,
            "adminUsername": "runner",
            "customData": custom_data or b64("#cloud-config\n{}\n"),
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "ssh": {
                    "publicKeys": [{"path": "/home/runner/.ssh/authorized_keys", "keyData": SAMPLE_SSH_KEY}]
                },
            },
        },
        "networkProfile": {
            "networkApiVersion": "2022-11-01",
            "networkInterfaceConfigurations": [
                {
                    "name": f"{name}-nic",
                    "properties": {
                        "primary": True,
                        "deleteOption": nic_delete_option,
                        "ipConfigurations": [ip_config],
                    },
                }
            ],
        },
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
    }
    if priority:
        properties["priority"] = priority
        properties["evictionPolicy"] = "Delete"
    return {"location": location, "tags": tags or {"runner-fleet/pool": "default"}, "properties": properties}


def github_jit_config(server_url: str, *, token: str, agent_id: int = 42, name: str = "runner-1") -> str:
    """An encoded JIT config in the shape GitHub (and the GitHub simulator) hands out."""
    return encode_jit_config(JitConfig(agent_id, name, 1, server_url, f"{server_url}/acme", "_work", token))


def runner_user_data(
    runner_json: dict[str, Any] | None,
    secret: str | None,
    *,
    start_script: bool = True,
) -> str:
    """`#cloud-config` user data writing runner.json and runner.secret, base64 for customData."""
    files: list[dict[str, Any]] = []
    if runner_json is not None:
        files.append({"path": RUNNER_JSON, "content": json.dumps(runner_json), "permissions": "0644"})
    if secret is not None:
        files.append(
            {"path": RUNNER_SECRET, "content": b64(secret), "encoding": "b64", "permissions": "0600"}
        )
    files.append({"path": START_SCRIPT, "content": "#!/bin/sh\nexec ./run.sh\n", "permissions": "0755"})
    document: dict[str, Any] = {"write_files": files}
    if start_script:
        document["runcmd"] = [[START_SCRIPT]]
    return b64("#cloud-config\n" + yaml.safe_dump(document))


def runner_json(
    runner_name: str,
    *,
    forge: str = "github",
    pool: str = "default",
    forge_url: str = "https://github.com/acme",
    api_server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "forge": forge,
        "runner_name": runner_name,
        "pool": pool,
        "api_server": api_server,
        "forge_url": forge_url,
    }
