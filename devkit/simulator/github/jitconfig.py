"""The encoded JIT runner configuration: base64 of a JSON map of file name -> base64(file content).

It mirrors the real shape (the runner's `.runner`, `.credentials` and `.credentials_rsaparams`),
with `serverUrl` pointing at the simulator so a simulated guest knows where to connect.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any


class InvalidJitConfig(ValueError):
    pass


@dataclass(frozen=True)
class JitConfig:
    agent_id: int
    agent_name: str
    pool_id: int
    server_url: str
    github_url: str
    work_folder: str
    token: str


def _b64_json(data: Any) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def encode_jit_config(config: JitConfig) -> str:
    files = {
        ".runner": _b64_json(
            {
                "agentId": config.agent_id,
                "agentName": config.agent_name,
                "poolId": config.pool_id,
                "serverUrl": config.server_url,
                "gitHubUrl": config.github_url,
                "workFolder": config.work_folder,
                "ephemeral": True,
            }
        ),
        ".credentials": _b64_json({"scheme": "OAuth", "data": {"token": config.token}}),
        ".credentials_rsaparams": _b64_json({}),
    }
    return _b64_json(files)


def decode_jit_config(encoded: str) -> JitConfig:
    try:
        files = json.loads(base64.b64decode(encoded, validate=True))
        runner = json.loads(base64.b64decode(files[".runner"], validate=True))
        credentials = json.loads(base64.b64decode(files[".credentials"], validate=True))
        return JitConfig(
            agent_id=int(runner["agentId"]),
            agent_name=str(runner["agentName"]),
            pool_id=int(runner["poolId"]),
            server_url=str(runner["serverUrl"]),
            github_url=str(runner["gitHubUrl"]),
            work_folder=str(runner.get("workFolder", "_work")),
            token=str(credentials["data"]["token"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidJitConfig("not an encoded JIT runner configuration") from exc
